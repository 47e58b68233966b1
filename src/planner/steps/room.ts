import { acceptsAll, type PlanBuilder } from '../builder.js';
import { AUTOMATION_DEFAULT } from '../model.js';
import { cpuCap, memoryCapacity } from '../plugins/filters.js';
import { PROFILES, type Profile } from '../profiles.js';
import type { PlannedMoveReason } from '../snapshot.js';

const HOSTS_TRIED = 8;
const MAX_EVICTIONS = 8;

/**
 * When no host has room for `movers` (one VM, or an affinity unit moving together), frees a host
 * by moving a few other VMs off it first ("make room, then swap"). Those room moves are appended
 * to the plan (priority 1, `reason`) and the host is returned; nothing changes when it fails (-1).
 * `allowed` narrows the hosts the movers may go to.
 */
export function makeRoom(b: PlanBuilder, movers: readonly number[], reason: PlannedMoveReason, allowed?: (h: number) => boolean): number {
  const m = b.model;
  const p = b.placement;
  const unit = movers.length > 1 ? new Set(movers) : null;
  const ctx = b.context(PROFILES.mandatory, unit);
  const placementFilters = PROFILES.mandatory.filters.filter((f) => f !== memoryCapacity && f !== cpuCap);
  let memNeed = 0;
  let cpuNeed = 0;
  for (const v of movers) {
    memNeed += m.vmMem[v];
    cpuNeed += m.vmCpu[v];
  }

  const candidates: { host: number; shortfall: number }[] = [];
  for (let t = 0; t < m.hostCount; t++) {
    if (allowed !== undefined && !allowed(t)) continue;
    if (!movers.every((v) => placementFilters.every((f) => f.accepts(ctx, v, t)))) continue;
    const memShort = Math.max(0, p.mem[t] + memNeed - m.memLimit[t]);
    const cpuShort = Math.max(0, p.cpu[t] + cpuNeed - m.cpuLimit[t]);
    candidates.push({ host: t, shortfall: memShort / m.memCapacity[t] + cpuShort / m.cpuCapacity[t] });
  }
  candidates.sort((a, c) => a.shortfall - c.shortfall || a.host - c.host);

  for (const { host } of candidates.slice(0, HOSTS_TRIED)) {
    const evictions = planEvictions(b, host, movers, memNeed, cpuNeed);
    if (evictions === null) continue;
    // Tentatively evict, check the movers now fit, and undo before recording for real.
    const done: { v: number; from: number }[] = [];
    let ok = true;
    for (const v of evictions) {
      const to = b.bestTarget(PROFILES.optional, v, null, (h) => h !== host);
      if (to < 0) {
        ok = false;
        break;
      }
      done.push({ v, from: p.host[v] });
      p.move(v, to);
    }
    const targets = done.map(({ v }) => p.host[v]);
    ok = ok && fitsSequentially(b, PROFILES.mandatory, movers, host, unit);
    for (let i = done.length - 1; i >= 0; i--) p.move(done[i].v, done[i].from);
    p.recomputeSums();
    if (!ok) continue;
    const forWhom = movers.map((v) => m.vms[v].id).join(', ');
    done.forEach(({ v }, i) => {
      b.apply(v, targets[i], 1, reason, 'room', b.score(PROFILES.optional, v, targets[i]), `makes room on ${m.hosts[host].id} for ${forWhom}`);
    });
    return host;
  }
  return -1;
}

/** The VMs to move off `host` so that the movers fit: one VM if one suffices, else largest first. */
function planEvictions(b: PlanBuilder, host: number, movers: readonly number[], memNeed: number, cpuNeed: number): number[] | null {
  const m = b.model;
  const p = b.placement;
  const memShort = p.mem[host] + memNeed - m.memLimit[host];
  const cpuShort = p.cpu[host] + cpuNeed - m.cpuLimit[host];
  const evictable = p.hostVms[host].filter(
    (v) =>
      !movers.includes(v) &&
      m.vmAutomation[v] === AUTOMATION_DEFAULT &&
      !m.vmCooling[v] &&
      m.vmAffinityUnit[v] < 0 &&
      (m.vmMem[v] > 0 || m.vmCpu[v] > 0),
  );
  const covers = (mem: number, cpu: number) => mem >= memShort && cpu >= cpuShort;
  let single = -1;
  for (const v of evictable) {
    if (covers(m.vmMem[v], m.vmCpu[v]) && (single < 0 || m.vmMem[v] < m.vmMem[single])) single = v;
  }
  if (single >= 0) return [single];
  const bySize = [...evictable].sort((a, c) => m.vmMem[c] - m.vmMem[a] || a - c);
  const chosen: number[] = [];
  let mem = 0;
  let cpu = 0;
  for (const v of bySize) {
    if (covers(mem, cpu) || chosen.length >= MAX_EVICTIONS) break;
    if ((memShort > mem && m.vmMem[v] > 0) || (cpuShort > cpu && m.vmCpu[v] > 0)) {
      chosen.push(v);
      mem += m.vmMem[v];
      cpu += m.vmCpu[v];
    }
  }
  return covers(mem, cpu) ? chosen : null;
}

/** Whether the movers, moved one after another to `host`, each pass the profile's filters. */
export function fitsSequentially(b: PlanBuilder, profile: Profile, movers: readonly number[], host: number, unit: ReadonlySet<number> | null): boolean {
  const p = b.placement;
  const ctx = b.context(profile, unit);
  const done: { v: number; from: number }[] = [];
  let ok = true;
  for (const v of movers) {
    if (p.host[v] === host) continue;
    if (!acceptsAll(profile, ctx, v, host)) {
      ok = false;
      break;
    }
    done.push({ v, from: p.host[v] });
    p.move(v, host);
  }
  for (let i = done.length - 1; i >= 0; i--) p.move(done[i].v, done[i].from);
  return ok;
}
