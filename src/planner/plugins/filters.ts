import { AUTOMATION_DISABLED, AUTOMATION_MANUAL, groupLabel, type Model } from '../model.js';
import type { Placement } from '../placement.js';

/**
 * Filter plugins in the manner of the Kubernetes scheduler framework: each answers whether VM `v`
 * may move to host `to` in the current placement, and if not, why. `accepts` is the fast path of
 * the candidate loops; `reason` is only asked for an explanation (trace, unresolved, checkMoves).
 */
export interface FilterContext {
  readonly model: Model;
  readonly placement: Placement;
  /** Balancing and overload relief: optional moves, which manual and cooling VMs sit out. */
  readonly optional: boolean;
  /** VMs moving together to the same host as consecutive moves (a must-affinity unit). */
  readonly unit: ReadonlySet<number> | null;
}

export interface FilterPlugin {
  readonly name: string;
  accepts(ctx: FilterContext, v: number, to: number): boolean;
  reason(ctx: FilterContext, v: number, to: number): string;
}

/** A typed rejection: which plugin said no, and why. */
export interface Rejection {
  plugin: string;
  reason: string;
}

const hostId = (m: Model, h: number) => m.hosts[h].id;
const mb = (x: number) => `${Math.round(x)} MB`;

export const automationLevel: FilterPlugin = {
  name: 'automation-level',
  accepts: (ctx, v) => {
    const level = ctx.model.vmAutomation[v];
    return level !== AUTOMATION_DISABLED && !(ctx.optional && level === AUTOMATION_MANUAL);
  },
  reason: (ctx, v) => {
    const host = ctx.model.hosts[ctx.model.initialHost[v]];
    if (host.state === 'failed') return `its host ${host.id} failed: the VM is down and only HA restarts it, no live migration leaves a failed host`;
    return ctx.model.vmAutomation[v] === AUTOMATION_DISABLED
      ? 'automation level is disabled: the VM never moves'
      : 'automation level is manual: only mandatory moves (evacuation, must rules) are planned for it';
  },
};

export const cooldown: FilterPlugin = {
  name: 'cooldown',
  accepts: (ctx, v) => !(ctx.optional && ctx.model.vmCooling[v]),
  reason: (ctx, v) =>
    ctx.model.vmHoldReason.get(v) ??
    `migrated at ${ctx.model.vms[v].lastMigratedAt}, within the ${ctx.model.snapshot.policy.migrationCooldownMinutes}-minute cooldown`,
};

/** ProxLB's max_node_inflow: optional moves into one host per plan (mandatory ones count, never wait). */
export const inflowCap: FilterPlugin = {
  name: 'inflow-cap',
  accepts: (ctx, _v, to) => !(ctx.optional && ctx.placement.arrivals[to] >= ctx.model.maxInflow),
  reason: (ctx, _v, to) => `${hostId(ctx.model, to)} already takes ${ctx.placement.arrivals[to]} VMs in this plan, the policy's maxInflowPerHost`,
};

export const hostState: FilterPlugin = {
  name: 'host-state',
  accepts: (ctx, v, to) => ctx.model.connected[to] === 1 && ctx.placement.host[v] !== to,
  reason: (ctx, v, to) =>
    ctx.placement.host[v] === to ? `already on ${hostId(ctx.model, to)}` : `${hostId(ctx.model, to)} is ${ctx.model.hosts[to].state}`,
};

export const compatibilityGroup: FilterPlugin = {
  name: 'compatibility-group',
  accepts: (ctx, v, to) => ctx.model.vmGroup[v] === ctx.model.hostGroup[to],
  reason: (ctx, v, to) =>
    `${hostId(ctx.model, to)} is in compatibility group ${groupLabel(ctx.model, ctx.model.hostGroup[to])}, the VM needs ${groupLabel(ctx.model, ctx.model.vmGroup[v])}`,
};

export const networks: FilterPlugin = {
  name: 'networks',
  accepts: (ctx, v, to) => ctx.model.networkReqs[ctx.model.vmNetworkReq[v]].hosts[to] === 1,
  reason: (ctx, v, to) => {
    const have = ctx.model.hosts[to].networks;
    const missing = ctx.model.vms[v].networks.filter((n) => !have.includes(n));
    return `${hostId(ctx.model, to)} lacks network ${missing.join(', ')}`;
  },
};

export const datastores: FilterPlugin = {
  name: 'datastores',
  accepts: (ctx, v, to) => ctx.model.datastoreReqs[ctx.model.vmDatastoreReq[v]].hosts[to] === 1,
  reason: (ctx, v, to) => {
    const have = ctx.model.hosts[to].datastores;
    const missing = ctx.model.vms[v].datastores.filter((d) => !have.includes(d));
    return `${hostId(ctx.model, to)} lacks datastore ${missing.join(', ')}`;
  },
};

export const memoryCapacity: FilterPlugin = {
  name: 'memory-capacity',
  accepts: (ctx, v, to) => ctx.placement.mem[to] + ctx.model.vmMem[v] <= ctx.model.memLimit[to],
  reason: (ctx, v, to) => {
    const m = ctx.model;
    const free = Math.max(0, m.memLimit[to] - ctx.placement.mem[to]);
    const ratio = m.snapshot.policy.memoryOvercommitRatio;
    const overcommit = ratio === 1 ? '' : ` at overcommit ${ratio}`;
    return `${hostId(m, to)} has ${mb(free)} free${overcommit}, the VM needs ${mb(m.vmMem[v])}`;
  },
};

export const cpuCap: FilterPlugin = {
  name: 'cpu-cap',
  accepts: (ctx, v, to) => ctx.placement.cpu[to] + ctx.model.vmCpu[v] <= ctx.model.cpuLimit[to],
  reason: (ctx, v, to) => {
    const m = ctx.model;
    const pct = ((ctx.placement.cpu[to] + m.vmCpu[v]) / m.cpuCapacity[to]) * 100;
    return `${hostId(m, to)} would reach ${pct.toFixed(1)}% CPU, above the ${((m.snapshot.policy.maxCpuUtilization ?? 1) * 100).toFixed(0)}% cap`;
  },
};

/** The must rules a VM carries with it: anti-affinity peers and vm-host rules, checked at every step. */
export const mustRules: FilterPlugin = {
  name: 'must-rules',
  accepts: (ctx, v, to) => firstBrokenMustRule(ctx, v, to) === null,
  reason: (ctx, v, to) => {
    const rule = firstBrokenMustRule(ctx, v, to) as string;
    return `${hostId(ctx.model, to)} would break must rule ${rule}`;
  },
};

function firstBrokenMustRule(ctx: FilterContext, v: number, to: number): string | null {
  const m = ctx.model;
  const ruleIds = m.vmRules[v];
  for (let i = 0; i < ruleIds.length; i++) {
    const rule = m.rules[ruleIds[i]];
    if (!rule.must) continue;
    if (rule.kind === 'vm-anti-affinity') {
      for (const w of rule.vms) if (w !== v && ctx.placement.host[w] === to) return `${rule.id} (${m.vms[w].id} is there)`;
    } else if (rule.kind === 'vm-host-affinity') {
      if (!rule.hostSet?.[to]) return `${rule.id} (not one of its hosts)`;
    } else if (rule.kind === 'vm-host-anti-affinity') {
      if (rule.hostSet?.[to]) return `${rule.id} (one of its excluded hosts)`;
    }
  }
  return null;
}

/**
 * Must vm-affinity: a VM whose group shares a host leaves only together with the whole group
 * (as a unit); in a broken group a VM only moves to a host that already holds a member.
 */
export const mustAffinity: FilterPlugin = {
  name: 'must-affinity',
  accepts: (ctx, v, to) => affinityConflict(ctx, v, to) === null,
  reason: (ctx, v, to) => `${hostId(ctx.model, to)} would break must rule ${affinityConflict(ctx, v, to)}`,
};

function affinityConflict(ctx: FilterContext, v: number, to: number): string | null {
  const m = ctx.model;
  const unit = m.vmAffinityUnit[v];
  if (unit < 0) return null;
  const members = m.affinityUnits[unit];
  const host = ctx.placement.host;
  const home = host[v];
  let together = true;
  let memberOnTarget = false;
  for (const w of members) {
    if (host[w] !== home) together = false;
    if (w !== v && host[w] === to) memberOnTarget = true;
  }
  const label = () => affinityRuleLabel(m, v);
  if (together) {
    // Everyone not moving with v must already be on the target.
    for (const w of members) if (w !== v && !ctx.unit?.has(w) && host[w] !== to) return `${label()} (${m.vms[w].id} stays on ${m.hosts[host[w]].id})`;
    return null;
  }
  if (ctx.unit !== null || memberOnTarget) return null;
  return `${label()} (no member of the group is there)`;
}

function affinityRuleLabel(m: Model, v: number): string {
  for (const r of m.vmRules[v]) {
    const rule = m.rules[r];
    if (rule.must && rule.kind === 'vm-affinity') return rule.id;
  }
  return 'vm-affinity';
}

/** Every filter, cheapest and most fundamental first (the first rejection is the one reported). */
export const ALL_FILTERS: readonly FilterPlugin[] = [
  automationLevel,
  cooldown,
  hostState,
  compatibilityGroup,
  networks,
  datastores,
  mustRules,
  mustAffinity,
  memoryCapacity,
  cpuCap,
  inflowCap,
];

export function accepts(filters: readonly FilterPlugin[], ctx: FilterContext, v: number, to: number): boolean {
  for (let i = 0; i < filters.length; i++) if (!filters[i].accepts(ctx, v, to)) return false;
  return true;
}

export function firstRejection(filters: readonly FilterPlugin[], ctx: FilterContext, v: number, to: number): Rejection | null {
  for (const f of filters) if (!f.accepts(ctx, v, to)) return { plugin: f.name, reason: f.reason(ctx, v, to) };
  return null;
}
