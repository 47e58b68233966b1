import { acceptsAll, type PlanBuilder, type PlannedMove } from '../builder.js';
import { shouldRuleScore } from '../plugins/scores.js';
import { PROFILES } from '../profiles.js';
import { priorityOf } from '../thresholds.js';
import { staysUnderOverloadLevel } from './overload.js';
import { bestMove, gainKey, searchSpace, type SearchOptions } from './search.js';

/**
 * Local improvement of a plan, on the placement it leaves (replay sequences the moves afterwards).
 *
 * - retarget: a VM that moves anyway can go to a better host at no extra move and no extra memory:
 *   each move (outside must-affinity groups and overload relief) goes to the accepted host with the
 *   lowest resulting imbalance; a balancing move whose best "target" is its source is dropped.
 * - exchange: each balancing move, largest memory first, is undone and replaced. In `imbalance`
 *   mode by the move that lowers the imbalance most (kept only if it beats the undone one); in
 *   `memory` mode by the smallest-memory move that keeps the imbalance at or below `bound` (or
 *   by no move at all if the bound holds without it).
 */
export interface RefineState {
  movable: Uint8Array;
  moved: Uint8Array;
  groups: Map<number, number[]>;
  minGain: number;
}

export function retarget(b: PlanBuilder, s: RefineState, onlyOnHosts?: ReadonlySet<number>): boolean {
  const m = b.model;
  const p = b.placement;
  const n = m.connectedCount;
  let changed = false;
  for (const x of [...b.planned]) {
    if (x.unit !== undefined) continue;
    const overload = x.move.reason === 'overload';
    const v = x.v;
    const current = p.host[v];
    if (onlyOnHosts !== undefined && !onlyOnHosts.has(current)) continue;
    if (!m.vmOn[v]) continue;
    const mandatory = x.move.priority === 1;
    const profile = mandatory ? PROFILES.mandatory : PROFILES.optional;
    const ctx = b.context(profile);
    const hosts = m.classHosts[m.vmClass[v]];
    const hasRules = m.vmRules[v].length > 0;
    let best = -1;
    let bestGain = 1e-9;
    for (const t of hosts) {
      if (t === current || ((mandatory || overload) && t === x.from)) continue;
      if (overload && !staysUnderOverloadLevel(b, v, t)) continue;
      let gain = (b.imbalance - p.imbalanceIfMoved(v, t)) * n;
      if (hasRules) gain += shouldRuleScore(m, p.host, v, t);
      if (gain <= bestGain || !acceptsAll(profile, ctx, v, t)) continue;
      best = t;
      bestGain = gain;
    }
    b.candidatesScored += hosts.length;
    if (best < 0) continue;
    p.move(v, best);
    b.imbalance = p.imbalance();
    changed = true;
    if (best === x.from) {
      removePlanned(b, x);
      s.moved[v] = 0;
      b.optionalMoves--;
      continue;
    }
    x.move.toHostId = m.hosts[best].id;
    x.trace.score = b.score(profile, v, best);
    if (mandatory && !x.trace.note?.includes('retargeted')) x.trace.note = `${x.trace.note ? `${x.trace.note}; ` : ''}retargeted for balance`;
    if (!mandatory) x.trace.step = 'refine';
  }
  return changed;
}

/**
 * Two VMs that both move swap destinations when that lowers the imbalance (free: same moves, same
 * memory). A balancing move whose VM would land back on its source disappears.
 */
export function swapTargets(b: PlanBuilder, s: RefineState): boolean {
  const m = b.model;
  const p = b.placement;
  const n = m.connectedCount;
  const candidates = b.planned.filter((x) => x.unit === undefined && x.move.reason !== 'overload' && m.vmOn[x.v]);
  // (Overload moves keep out of swaps: both ends would need the level check.)
  let changed = false;
  for (let i = 0; i < candidates.length; i++) {
    for (let j = i + 1; j < candidates.length; j++) {
      const x = candidates[i];
      const y = candidates[j];
      const a = p.host[x.v];
      const c = p.host[y.v];
      if (a === c || m.vmGroup[x.v] !== m.hostGroup[c] || m.vmGroup[y.v] !== m.hostGroup[a]) continue;
      if ((x.move.priority === 1 && x.from === c) || (y.move.priority === 1 && y.from === a)) continue;
      const before = b.imbalance;
      p.move(x.v, c);
      const after = p.imbalanceIfMoved(y.v, a);
      p.move(x.v, a);
      b.candidatesScored++;
      if ((before - after) * n <= 1e-9) continue;
      // The swap must be doable one move after the other, in either order.
      if (!inOrder(b, x, c, y, a) && !inOrder(b, y, a, x, c)) continue;
      p.move(x.v, c);
      p.move(y.v, a);
      b.imbalance = p.imbalance();
      changed = true;
      for (const [z, to] of [
        [x, c],
        [y, a],
      ] as const) {
        if (to === z.from) {
          removePlanned(b, z);
          s.moved[z.v] = 0;
          b.optionalMoves--;
        } else {
          z.move.toHostId = m.hosts[to].id;
          if (z.move.priority !== 1) z.trace.step = 'refine';
        }
      }
      candidates.splice(j, 1);
      candidates.splice(i, 1);
      i--;
      break;
    }
  }
  return changed;
}

/** Whether `first` can move to `firstTo`, and then `second` to `secondTo`. */
function inOrder(b: PlanBuilder, first: PlannedMove, firstTo: number, second: PlannedMove, secondTo: number): boolean {
  const p = b.placement;
  const profileOf = (z: PlannedMove) => (z.move.priority === 1 ? PROFILES.mandatory : PROFILES.optional);
  if (!acceptsAll(profileOf(first), b.context(profileOf(first)), first.v, firstTo)) return false;
  const home = p.host[first.v];
  p.move(first.v, firstTo);
  const ok = acceptsAll(profileOf(second), b.context(profileOf(second)), second.v, secondTo);
  p.move(first.v, home);
  return ok;
}

function removePlanned(b: PlanBuilder, x: PlannedMove): void {
  const i = b.planned.indexOf(x);
  if (i >= 0) b.planned.splice(i, 1);
}

export interface ExchangeOptions {
  mode: 'imbalance' | 'memory';
  /** memory mode: never end above this imbalance. */
  bound: number;
  sources: number;
  targets: number;
  /** Large clusters: replacements only from the move's own source host (cheap, and where near-ties are). */
  sameSource?: boolean;
  /** memory mode: look only at VMs smaller than the move's (the others are no replacement anyway; time). */
  onlySmaller?: boolean;
}

export function exchange(b: PlanBuilder, s: RefineState, o: ExchangeOptions): boolean {
  const m = b.model;
  const p = b.placement;
  const n = m.connectedCount;
  const ctx = b.context(PROFILES.optional);
  const gb = (v: number) => m.vmMem[v] / 1024;
  const entries = b.planned.filter((x) => x.move.reason === 'balance').sort((x, y) => m.vmMem[y.v] - m.vmMem[x.v] || x.trace.index - y.trace.index);
  let changed = false;
  // One set of targets for the pass (the coldest hosts move little from one exchange to the next).
  const space = searchSpace(b, s.groups, 0, o.sources, o.targets);
  for (const x of entries) {
    const v = x.v;
    const at = p.host[v];
    if (!acceptsAll(PROFILES.optional, ctx, v, x.from)) continue;
    const before = b.imbalance;
    p.move(v, x.from);
    b.imbalance = p.imbalance();
    s.moved[v] = 0;
    const removed = b.imbalance;
    const restore = () => {
      p.move(v, at);
      b.imbalance = p.imbalance();
      s.moved[v] = 1;
    };
    if (o.mode === 'memory' && removed <= o.bound) {
      removePlanned(b, x);
      b.optionalMoves--;
      changed = true;
      continue;
    }
    const search: SearchOptions =
      o.mode === 'imbalance'
        ? { movable: s.movable, skipVm: s.moved, key: gainKey, minGain: Math.max(s.minGain, (removed - before) * n + 1e-9) }
        : {
            movable: s.movable,
            skipVm: s.moved,
            key: (gain, _sec, w) => gain - gb(w),
            minGain: Math.max(s.minGain, (removed - o.bound) * n),
            ...(o.onlySmaller ? { memBelowMb: m.vmMem[v] } : {}),
          };
    const best = bestMove(b, o.sameSource ? { sources: [x.from], targetsByClass: space.targetsByClass } : space, search);
    if (best === null || (best.v === v && best.to === at) || (o.mode === 'memory' && m.vmMem[best.v] >= m.vmMem[v])) {
      restore();
      continue;
    }
    changed = true;
    const from = p.host[best.v];
    p.move(best.v, best.to);
    b.imbalance = p.imbalance();
    s.moved[best.v] = 1;
    x.v = best.v;
    x.from = from;
    x.move = { vmId: m.vms[best.v].id, fromHostId: m.hosts[from].id, toHostId: m.hosts[best.to].id, priority: priorityOf(best.gain), reason: 'balance' };
    x.trace = { ...x.trace, vmId: x.move.vmId, step: 'refine' };
  }
  return changed;
}
