import type { PlanBuilder } from '../builder.js';
import { AUTOMATION_DISABLED } from '../model.js';
import { PROFILES } from '../profiles.js';
import { fitsSequentially, makeRoom } from './room.js';

/**
 * Step 1: every VM on an entering-maintenance host moves (priority 1). Units are placed largest
 * first: the big VMs have the fewest possible hosts, and sending them first keeps migration links
 * busy. A must-affinity group on the host moves as a unit to one host. Returns the VMs that were
 * on entering-maintenance hosts.
 */
export function evacuate(b: PlanBuilder): Set<number> {
  const m = b.model;
  const p = b.placement;
  const leaving: number[] = [];
  for (let h = 0; h < m.hostCount; h++) {
    if (!m.entering[h]) continue;
    for (const v of p.hostVms[h]) if (m.vmOn[v] || b.evacuatePoweredOff) leaving.push(v);
  }
  leaving.sort((a, c) => a - c);
  const leavingSet = new Set(leaving);

  const units: number[][] = [];
  const seenUnits = new Set<number>();
  for (const v of leaving) {
    const u = m.vmAffinityUnit[v];
    if (u < 0) {
      units.push([v]);
    } else if (!seenUnits.has(u)) {
      seenUnits.add(u);
      units.push(Array.from(m.affinityUnits[u]).filter((w) => leavingSet.has(w)));
    }
  }
  const size = (unit: number[]) => unit.reduce((sum, v) => sum + m.vms[v].memoryMb, 0);
  const sizes = new Map(units.map((u) => [u, size(u)]));
  units.sort((a, c) => (sizes.get(c) as number) - (sizes.get(a) as number) || a[0] - c[0]);

  for (const unit of units) if (unit.length > 1) moveUnit(b, unit);
  placeSingles(
    b,
    units.filter((u) => u.length === 1).map((u) => u[0]),
  );
  return leavingSet;
}

/** Up to this much work (pending VMs^2 x hosts) every pending VM is re-scored each step (exact greedy); above, lazily. */
const EXACT_EVACUATION_WORK = 50_000;

/**
 * Single VMs: each step places the VM whose best host scores highest (the placement that helps
 * balance most). Small evacuations re-score every pending VM each step; large ones re-score
 * lazily (the cached best first). Replay lists the evacuation moves largest first.
 */
function placeSingles(b: PlanBuilder, vms: number[]): void {
  const m = b.model;
  const profile = PROFILES.mandatory;
  const pending = new Set<number>();
  const cachedTo = new Map<number, number>();
  const cachedScore = new Map<number, number>();
  const rescore = (v: number) => {
    const to = b.bestTarget(profile, v);
    cachedTo.set(v, to);
    cachedScore.set(v, to < 0 ? -Infinity : b.score(profile, v, to).total);
  };
  for (const v of vms) {
    if (m.vmAutomation[v] === AUTOMATION_DISABLED) {
      moveOne(b, v);
      continue;
    }
    pending.add(v);
    rescore(v);
  }
  const stale = new Set<number>();
  while (pending.size > 0) {
    let best = -1;
    let bestScore = -Infinity;
    for (const v of pending) {
      const score = cachedScore.get(v) as number;
      if (best < 0 || score > bestScore || (score === bestScore && m.vms[v].memoryMb > m.vms[best].memoryMb)) {
        best = v;
        bestScore = score;
      }
    }
    if (stale.has(best)) {
      stale.delete(best);
      rescore(best);
      continue;
    }
    pending.delete(best);
    const to = cachedTo.get(best) as number;
    if (to < 0) {
      moveOne(b, best);
    } else {
      b.apply(best, to, 1, 'evacuation', 'evacuation', b.score(profile, best, to));
    }
    // Every cached choice may have shifted: re-score all (small) or lazily (large).
    if (pending.size * pending.size * m.hostCount <= EXACT_EVACUATION_WORK) for (const v of pending) rescore(v);
    else for (const v of pending) stale.add(v);
  }
}

function moveOne(b: PlanBuilder, v: number): void {
  const profile = PROFILES.mandatory;
  let to = b.bestTarget(profile, v);
  if (to < 0 && b.model.vmAutomation[v] !== AUTOMATION_DISABLED) to = makeRoom(b, [v], 'evacuation');
  if (to >= 0) {
    b.apply(v, to, 1, 'evacuation', 'evacuation', b.score(profile, v, to));
    return;
  }
  const { summary, rejections } = b.explainNoTarget(profile, v);
  b.unresolved.push({ vmId: b.model.vms[v].id, reason: summary });
  for (const r of rejections) b.noteStayed(v, () => r);
}

/** A must-affinity group leaving together: to the host where the rest of its group is, else anywhere it fits. */
function moveUnit(b: PlanBuilder, unit: number[]): void {
  const m = b.model;
  const p = b.placement;
  const profile = PROFILES.mandatory;
  const unitSet = new Set(unit);
  const members = m.affinityUnits[m.vmAffinityUnit[unit[0]]];
  const anchors = new Set<number>();
  for (const w of members) if (!unitSet.has(w) && m.connected[p.host[w]]) anchors.add(p.host[w]);
  const ordered = [...unit].sort((a, c) => m.vms[c].memoryMb - m.vms[a].memoryMb || a - c);
  const ids = ordered.map((v) => m.vms[v].id).join(', ');

  const pinned = ordered.find((v) => m.vmAutomation[v] === AUTOMATION_DISABLED);
  if (pinned !== undefined) {
    for (const v of ordered) {
      const reason =
        v === pinned
          ? 'automation level is disabled: the VM never moves'
          : `its must-affinity group stays with ${m.vms[pinned].id}, whose automation level is disabled`;
      b.unresolved.push({ vmId: m.vms[v].id, reason });
    }
    return;
  }

  const allowed = anchors.size > 0 ? (h: number) => anchors.has(h) : undefined;
  let to = bestUnitHost(b, ordered, unitSet, allowed);
  if (to < 0) to = makeRoom(b, ordered, 'evacuation', allowed);
  if (to >= 0) {
    for (const v of ordered) b.apply(v, to, 1, 'evacuation', 'evacuation', b.score(profile, v, to, unitSet), `must-affinity group ${ids}`, unitSet);
    return;
  }
  const { summary } = b.explainNoTarget(profile, ordered[0], unitSet);
  const where = anchors.size > 0 ? `on ${[...anchors].map((h) => m.hosts[h].id).join(' or ')} ` : '';
  for (const v of ordered) {
    b.unresolved.push({ vmId: m.vms[v].id, reason: `its must-affinity group (${ids}) fits on no host ${where}together: ${summary}` });
  }
}

/** The host where the whole unit fits with the lowest resulting imbalance, or -1. */
export function bestUnitHost(b: PlanBuilder, ordered: readonly number[], unitSet: ReadonlySet<number>, allowed?: (h: number) => boolean): number {
  const m = b.model;
  const p = b.placement;
  let best = -1;
  let bestImbalance = Infinity;
  for (let t = 0; t < m.hostCount; t++) {
    if (!m.connected[t] || (allowed !== undefined && !allowed(t))) continue;
    if (!fitsSequentially(b, PROFILES.mandatory, ordered, t, unitSet)) continue;
    const from = ordered.map((v) => p.host[v]);
    for (const v of ordered) p.move(v, t);
    const after = p.imbalance();
    ordered.forEach((v, i) => p.move(v, from[i]));
    b.candidatesScored++;
    if (after < bestImbalance - 1e-12) {
      best = t;
      bestImbalance = after;
    }
  }
  p.recomputeSums();
  return best;
}
