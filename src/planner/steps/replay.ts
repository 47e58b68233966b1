import { acceptsAll, type PlanBuilder, type PlannedMove } from '../builder.js';
import { estimateCost } from '../cost.js';
import { PROFILES } from '../profiles.js';

/**
 * Sequences the plan so that every prefix is a valid state, replaying it from the snapshot. Moves
 * keep their order where they can; a move whose target is not ready yet (it needs room that a
 * later move frees, or a later move must take a must-anti-affinity peer away first) waits for the
 * first point where the filters accept it. When nothing left can go, an optional move is left out
 * (its VM stays), or a mandatory move takes the best host available at that point. Rebuilds the
 * trace's per-move index and imbalance.
 */
export function replay(b: PlanBuilder): void {
  const m = b.model;
  const p = b.placement;
  const pending = evacuationBigFirst(b, b.planned.splice(0));
  p.reset();
  b.imbalance = p.imbalance();

  const mandatory = (x: PlannedMove) => x.move.priority === 1;
  const fits = (x: PlannedMove) => {
    const profile = mandatory(x) ? PROFILES.mandatory : PROFILES.optional;
    return acceptsAll(profile, b.context(profile, x.unit ?? null), x.v, m.hostIndex.get(x.move.toHostId) as number);
  };
  const place = (x: PlannedMove) => {
    const to = m.hostIndex.get(x.move.toHostId) as number;
    const profile = mandatory(x) ? PROFILES.mandatory : PROFILES.optional;
    x.from = p.host[x.v];
    x.move.fromHostId = m.hosts[x.from].id;
    x.trace.score = b.score(profile, x.v, to, x.unit ?? null);
    x.trace.cost = estimateCost(m, x.v, x.from, to);
    p.move(x.v, to);
    b.imbalance = p.imbalance();
    x.trace.index = b.planned.length;
    x.trace.imbalanceAfter = b.imbalance;
    b.planned.push(x);
  };

  while (pending.length > 0) {
    let k = pending.findIndex(fits);
    if (k >= 0 && pending[k].move.reason === 'balance') k = mostBalancePerGb(b, pending, k, fits);
    if (k >= 0) {
      place(pending.splice(k, 1)[0]);
      continue;
    }
    let lastOptional = -1;
    for (let i = pending.length - 1; i >= 0 && lastOptional < 0; i--) if (!mandatory(pending[i])) lastOptional = i;
    if (lastOptional >= 0) {
      const [x] = pending.splice(lastOptional, 1);
      if (x.move.reason === 'balance' || x.move.reason === 'overload') b.optionalMoves--;
      b.noteStayed(x.v, () => ({ plugin: 'sequence', reason: `its move to ${x.move.toHostId} could not be ordered into a valid sequence` }));
      continue;
    }
    // Only mandatory moves are left and none fits: re-place the first one now.
    const [x] = pending.splice(0, 1);
    const to = b.bestTarget(PROFILES.mandatory, x.v, x.unit ?? null);
    if (to >= 0) {
      x.move.toHostId = m.hosts[to].id;
      place(x);
    } else {
      b.unresolved.push({ vmId: m.vms[x.v].id, reason: b.explainNoTarget(PROFILES.mandatory, x.v).summary });
    }
  }
  p.recomputeSums();
  b.imbalance = p.imbalance();
}

/**
 * Of the balancing moves that can go now, the one that lowers the imbalance most per GB moved
 * (`first` on ties): the balancing part of the plan then runs its best value for memory first, so
 * a plan cut short anywhere (an operator's approval of a prefix, a stopped run) has had the most
 * balance its memory could buy.
 */
function mostBalancePerGb(b: PlanBuilder, pending: readonly PlannedMove[], first: number, fits: (x: PlannedMove) => boolean): number {
  const m = b.model;
  const p = b.placement;
  const value = (x: PlannedMove) => (b.imbalance - p.imbalanceIfMoved(x.v, m.hostIndex.get(x.move.toHostId) as number)) / Math.max(1, m.vmMem[x.v]);
  let best = first;
  let bestValue = value(pending[first]);
  for (let i = first + 1; i < pending.length; i++) {
    const x = pending[i];
    if (x.move.reason !== 'balance') continue;
    const v = value(x);
    if (v > bestValue && fits(x)) {
      best = i;
      bestValue = v;
    }
  }
  return best;
}

/**
 * The leading evacuation block (its room moves first, then the VMs largest first: big VMs have
 * the fewest possible hosts and keep the migration links full); everything after keeps its order.
 */
function evacuationBigFirst(b: PlanBuilder, moves: PlannedMove[]): PlannedMove[] {
  let end = 0;
  while (end < moves.length && moves[end].move.reason === 'evacuation') end++;
  const block = moves.slice(0, end);
  const rank = (x: PlannedMove) => (x.trace.step === 'room' ? 0 : 1);
  block.sort((x, y) => rank(x) - rank(y) || (x.unit === undefined && y.unit === undefined ? b.model.vms[y.v].memoryMb - b.model.vms[x.v].memoryMb : 0));
  return [...block, ...moves.slice(end)];
}
