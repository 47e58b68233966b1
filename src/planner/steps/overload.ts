import type { PlanBuilder } from '../builder.js';
import { PROFILES } from '../profiles.js';
import { overloadLine } from '../thresholds.js';
import { CachedSearch, gainKey, hostsByGroup, movableForBalance } from './search.js';

/** Tolerance on capacity comparisons (sums of many floats). */
const EPS = 1e-9;

/**
 * Step 3: relieve overloaded hosts. A host is *hard* overloaded above a hard cap (CPU demand over
 * maxCpuUtilization, or configured memory over capacity x overcommit): those moves are priority 1
 * and not capped. It is *soft* overloaded with CPU or active-memory utilization above the
 * threshold's overload level: those moves are priority 2 and count against maxMovesPerRun. The
 * most overloaded host goes first; each move is the balancing search restricted to VMs of that
 * host and to targets that stay under the level, until the host is under it.
 */
export function relieveOverload(b: PlanBuilder): void {
  const m = b.model;
  const p = b.placement;
  const soft = b.level.overloadUtilization;
  const { cpuLevel, memLevel } = overloadLevels(b);
  const isHard = (h: number) => p.cpu[h] > m.cpuLimit[h] + EPS || p.mem[h] > m.memLimit[h] + EPS;
  const isSoft = (h: number) => p.cpu[h] > cpuLevel * m.cpuCapacity[h] + EPS || p.active[h] > memLevel * m.memCapacity[h] + EPS;

  const hot: number[] = [];
  for (let h = 0; h < m.hostCount; h++) if (m.connected[h] && (isHard(h) || isSoft(h))) hot.push(h);
  if (hot.length === 0) return;

  const movable = movableForBalance(b);
  const groups = hostsByGroup(b);
  const moved = new Uint8Array(m.vmCount);
  for (const x of b.planned) moved[x.v] = 1;
  const underLevel = (v: number, t: number) => staysUnderOverloadLevel(b, v, t);
  // Hard overload first (priority 1, uncapped), then soft (priority 2, counted against the cap):
  // each time the best move off any host still over, to a host that stays under the level.
  for (const hard of [true, false]) {
    if (!hard && (b.level.threshold < 2 || soft === null)) break;
    const sourceOk = (h: number) => (hard ? isHard(h) : isHard(h) || isSoft(h));
    const search = new CachedSearch(b, groups, { movable, key: gainKey, allow: underLevel, minGain: hard ? -Infinity : 0, ignoreCost: hard, skipVm: moved, sourceOk }, 16);
    for (;;) {
      if (!hard && b.optionalBudget <= 0) break;
      const best = search.best();
      if (best === null) break;
      b.apply(best.v, best.to, hard ? 1 : 2, 'overload', 'overload', b.score(PROFILES.optional, best.v, best.to));
      moved[best.v] = 1;
      if (!hard) b.optionalMoves++;
    }
  }
  for (const h of hot) {
    if (isHard(h) || isSoft(h)) {
      b.unresolved.push({ reason: `${m.hosts[h].id} stays overloaded (${describeLoad(b, h)}): ${b.optionalBudget <= 0 && !isHard(h) ? 'maxMovesPerRun reached' : 'no VM on it can move to a host that stays under the level'}` });
    }
  }
}

/** CPU and active-memory utilization above which a host is (soft) overloaded at this threshold. */
export function overloadLevels(b: PlanBuilder): { cpuLevel: number; memLevel: number } {
  const line = overloadLine({ migrationThreshold: b.level.threshold, maxCpuUtilization: b.model.snapshot.policy.maxCpuUtilization });
  return { cpuLevel: line.cpu, memLevel: line.memory };
}

/** Whether host t stays at or under the overload level with VM v on it (overload moves must not create one). */
export function staysUnderOverloadLevel(b: PlanBuilder, v: number, t: number): boolean {
  const m = b.model;
  const p = b.placement;
  const { cpuLevel, memLevel } = overloadLevels(b);
  return p.cpu[t] + m.vmCpu[v] <= cpuLevel * m.cpuCapacity[t] + EPS && p.active[t] + m.vmActive[v] <= memLevel * m.memCapacity[t] + EPS;
}

function describeLoad(b: PlanBuilder, h: number): string {
  const m = b.model;
  const p = b.placement;
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  return `CPU ${pct(p.cpu[h] / m.cpuCapacity[h])}, active memory ${pct(p.active[h] / m.memCapacity[h])}, configured memory ${pct(p.mem[h] / m.memLimit[h])} of the limit`;
}
