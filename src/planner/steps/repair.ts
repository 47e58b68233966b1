import type { PlanBuilder } from '../builder.js';
import { AUTOMATION_DISABLED, groupLabel, type CompiledRule } from '../model.js';
import { MEMORY_WEIGHT_PER_GB } from '../plugins/scores.js';
import { PROFILES } from '../profiles.js';
import { describeBreak, isBroken } from '../rules.js';
import { fitsSequentially, makeRoom } from './room.js';

/**
 * Step 2: repair broken must rules (priority 1). Every choice (which VM of an anti-affinity
 * group moves, where an affinity group gathers, which host a VM goes to) takes the lowest
 * "plan cost" J = imbalance x hosts + MEMORY_WEIGHT_PER_GB x GB moved, the same objective that
 * balancing optimizes. When nothing fits, room is made first. `only` limits the rules considered.
 */
export function repairMustRules(b: PlanBuilder, only?: (rule: CompiledRule) => boolean): void {
  const m = b.model;
  const groups = repairGroups(m.rules, m.ruleConflicts, m.vmCount);
  const groupWhy = new Map<number, string | null>();
  for (const rule of m.rules) {
    if (!rule.must || (only !== undefined && !only(rule)) || !isBroken(rule, b.placement.host)) continue;
    let why: string | null = null;
    const conflict = m.ruleConflicts.get(rule.id);
    if (conflict !== undefined) {
      // No placement keeps both: moving VMs for one would only break the other.
      why = conflict;
    } else {
      switch (rule.kind) {
        case 'vm-anti-affinity':
          why = repairAntiAffinity(b, rule);
          break;
        case 'vm-host-affinity':
        case 'vm-host-anti-affinity':
          for (const v of rule.vms) {
            const wrong = rule.kind === 'vm-host-affinity' ? !rule.hostSet?.[b.placement.host[v]] : rule.hostSet?.[b.placement.host[v]] === 1;
            if (wrong) why = moveForRule(b, v, rule) ?? why;
          }
          break;
        case 'vm-affinity': {
          const group = groups.of(rule.vms[0]);
          if (!groupWhy.has(group)) groupWhy.set(group, gather(b, groups.members(group), rule));
          why = groupWhy.get(group) ?? null;
          break;
        }
      }
    }
    if (isBroken(rule, b.placement.host)) {
      const detail = why === null ? '' : `: ${why}`;
      b.unresolved.push({ ruleId: rule.id, reason: `must rule left broken (${describeBreak(m, rule, b.placement.host)})${detail}` });
    }
  }
}

/**
 * The VMs each must-affinity repair gathers: joined by the must vm-affinity rules that are in no
 * conflict (a conflicting rule would drag VMs its partner keeps apart into the group).
 */
function repairGroups(rules: readonly CompiledRule[], conflicts: ReadonlyMap<string, string>, vmCount: number) {
  const parent = Int32Array.from({ length: vmCount }, (_, i) => i);
  const find = (x: number): number => {
    while (parent[x] !== x) x = parent[x] = parent[parent[x]];
    return x;
  };
  for (const rule of rules) {
    if (!rule.must || rule.kind !== 'vm-affinity' || conflicts.has(rule.id)) continue;
    for (const v of rule.vms) parent[find(v)] = find(rule.vms[0]);
  }
  const inAffinity = new Set<number>();
  for (const rule of rules) if (rule.must && rule.kind === 'vm-affinity' && !conflicts.has(rule.id)) for (const v of rule.vms) inAffinity.add(v);
  return {
    of: find,
    members: (root: number) => [...inAffinity].filter((v) => find(v) === root).sort((a, c) => a - c),
  };
}

/** Plan cost of the current placement plus `movedMb` more memory moved. */
function planCost(b: PlanBuilder, imbalance: number, movedMb: number): number {
  return imbalance * b.model.connectedCount + (MEMORY_WEIGHT_PER_GB * movedMb) / 1024;
}

/** Moves VM v off its host for `rule`; returns why it could not, or null. */
function moveForRule(b: PlanBuilder, v: number, rule: CompiledRule): string | null {
  const m = b.model;
  const profile = PROFILES.mandatory;
  let to = b.bestTarget(profile, v);
  if (to < 0 && m.vmAutomation[v] !== AUTOMATION_DISABLED) to = makeRoom(b, [v], 'rule');
  if (to < 0) return explainStay(b, v);
  b.apply(v, to, 1, 'rule', 'rule-repair', b.score(profile, v, to), `repairs ${rule.id}`);
  return null;
}

function explainStay(b: PlanBuilder, v: number): string {
  const { summary, rejections } = b.explainNoTarget(PROFILES.mandatory, v);
  for (const r of rejections) b.noteStayed(v, () => r);
  return `${b.model.vms[v].id}: ${summary}`;
}

/** While VMs of the rule share a host, moves the sharing VM whose best move has the lowest plan cost. */
function repairAntiAffinity(b: PlanBuilder, rule: CompiledRule): string | null {
  const m = b.model;
  const p = b.placement;
  const tried = new Set<number>();
  let why: string | null = null;
  for (;;) {
    const count = new Map<number, number>();
    for (const v of rule.vms) count.set(p.host[v], (count.get(p.host[v]) ?? 0) + 1);
    const sharing = Array.from(rule.vms).filter((v) => (count.get(p.host[v]) as number) > 1 && !tried.has(v));
    if (sharing.length === 0) return why;
    let best = -1;
    let bestTo = -1;
    let bestCost = Infinity;
    for (const v of sharing) {
      const to = b.bestTarget(PROFILES.mandatory, v);
      if (to < 0) continue;
      const cost = planCost(b, p.imbalanceIfMoved(v, to), m.vmMem[v]);
      if (cost < bestCost) {
        best = v;
        bestTo = to;
        bestCost = cost;
      }
    }
    if (best < 0) {
      // Nothing moves directly: make room for the smallest movable one, else give up on these VMs.
      const movable = sharing.filter((v) => m.vmAutomation[v] !== AUTOMATION_DISABLED).sort((a, c) => m.vmMem[a] - m.vmMem[c] || a - c);
      const v = movable.find((w) => makeRoom(b, [w], 'rule') >= 0);
      if (v === undefined) {
        for (const w of sharing) tried.add(w);
        why = sharing.map((w) => explainStay(b, w)).join('; ');
        continue;
      }
      best = v;
      bestTo = b.bestTarget(PROFILES.mandatory, v);
      if (bestTo < 0) {
        tried.add(v);
        continue;
      }
    }
    b.apply(best, bestTo, 1, 'rule', 'rule-repair', b.score(PROFILES.mandatory, best, bestTo), `repairs ${rule.id}`);
  }
}

/** Gathers a must-affinity group on the host with the lowest plan cost (the pinned VM's host if one is disabled). */
function gather(b: PlanBuilder, members: number[], rule: CompiledRule): string | null {
  const m = b.model;
  const p = b.placement;
  const pinnedHosts = new Set(members.filter((v) => m.vmAutomation[v] === AUTOMATION_DISABLED).map((v) => p.host[v]));
  if (pinnedHosts.size > 1) return 'VMs with automation level disabled sit on different hosts';
  const groups = new Set(members.map((v) => m.vmGroup[v]));
  if (groups.size > 1) return `its VMs are in different compatibility groups (${[...groups].map((g) => groupLabel(m, g)).join(', ')})`;

  const moversFor = (h: number) => members.filter((v) => p.host[v] !== h).sort((a, c) => m.vmMem[c] - m.vmMem[a] || a - c);
  const costAt = (h: number): number => {
    const movers = moversFor(h);
    if (!fitsSequentially(b, PROFILES.mandatory, movers, h, new Set(movers))) return Infinity;
    const from = movers.map((v) => p.host[v]);
    for (const v of movers) p.move(v, h);
    const cost = planCost(b, p.imbalance(), movers.reduce((sum, v) => sum + m.vmMem[v], 0));
    movers.forEach((v, i) => p.move(v, from[i]));
    b.candidatesScored++;
    return cost;
  };
  const memberHosts = [...new Set(members.map((v) => p.host[v]))].filter((h) => m.connected[h]).sort((a, c) => a - c);
  const pick = (hosts: number[]) => {
    let best = -1;
    let bestCost = Infinity;
    for (const h of hosts) {
      const cost = costAt(h);
      if (cost < bestCost) {
        best = h;
        bestCost = cost;
      }
    }
    return best;
  };
  // Where a member already is (fewer moves), else anywhere the whole group fits.
  let host = pick(pinnedHosts.size === 1 ? [...pinnedHosts] : memberHosts);
  if (host < 0 && pinnedHosts.size === 0) host = pick(Array.from({ length: m.hostCount }, (_, h) => h).filter((h) => m.connected[h]));
  p.recomputeSums();
  const fallback = pinnedHosts.size === 1 ? [...pinnedHosts][0] : memberHosts.sort((a, c) => moversFor(a).length - moversFor(c).length || a - c)[0];
  if (host < 0 && fallback !== undefined) {
    const movers = moversFor(fallback);
    host = makeRoom(b, movers, 'rule', (t) => t === fallback);
  }
  if (host < 0) {
    const movers = moversFor(fallback ?? p.host[members[0]]);
    if (movers.length === 0) return null;
    const blocker = movers[0];
    // The group may be wider than this rule: say how a VM the rule does not name comes into it.
    const joinedBy = rule.vms.includes(blocker)
      ? ''
      : ` (in the group through must rule ${m.vmRules[blocker].map((r) => m.rules[r]).find((r) => r.must && r.kind === 'vm-affinity')?.id ?? '?'})`;
    return `${m.vms[blocker].id}${joinedBy}: ${b.explainNoTarget(PROFILES.mandatory, blocker, new Set(movers)).summary}`;
  }
  const movers = moversFor(host);
  const unitSet = new Set(movers);
  for (const v of movers) b.apply(v, host, 1, 'rule', 'rule-repair', b.score(PROFILES.mandatory, v, host, unitSet), `repairs ${rule.id}`, unitSet);
  return null;
}
