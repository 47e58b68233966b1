import { acceptsAll, type PlanBuilder, type PlannedMove } from '../builder.js';
import { MEMORY_WEIGHT_PER_GB } from '../plugins/scores.js';
import { PROFILES } from '../profiles.js';
import { priorityOf } from '../thresholds.js';
import { exchange, retarget, swapTargets, type RefineState } from './refine.js';
import { staysUnderOverloadLevel } from './overload.js';
import { replay } from './replay.js';
import { bestMove, CachedSearch, gainKey, hostsByGroup, movableForBalance, searchSpace, type Candidate } from './search.js';

/** Tunables of the balancing search. */
const TUNING = {
  /** Share of the imbalance improved below the plain best-gain pass that may be traded for memory. */
  slackShare: 0.3,
  refinePasses: 3,
  refineSources: 6,
  refineTargets: 6,
  /** Large clusters: coldest hosts per group the memory phase's search beyond a move's own source tries. */
  widerExchangeTargets: 3,
  /** Large clusters: forward past the cap by this share of it, then drop the weakest moves back to it. */
  overshoot: 0.2,
  /** Coldest hosts per group the cached search sends VMs to. */
  targets: 10,
  /**
   * Up to this much search work (VMs x hosts of their compatibility group, summed), several
   * strategies are tried and the best plan kept, with exhaustive searches.
   */
  portfolioWork: 20_000,
} as const;

/** A drop of the reference imbalance below this is not significant (a plain planner stops there). */
export const SIGNIFICANT_GAIN = 1e-4;

/**
 * A forward strategy: `exact` searches every source host each step (exhaustive in groups of up
 * to 40 hosts); `cached` keeps each host's best move and re-searches lazily (what makes 50,000
 * VMs fast). `memoryWeight` is the normalized gain a GB costs when ranking candidates.
 */
interface Strategy {
  search: 'exact' | 'cached';
  memoryWeight: number;
  /** Retarget moves as the forward pass goes (else only when it finds nothing). */
  eagerRetarget: boolean;
}

/** Small clusters: several searches (the first is the plain best-gain pass, the yardstick). */
const SMALL_PORTFOLIO: readonly Strategy[] = [
  { search: 'exact', memoryWeight: 0, eagerRetarget: false },
  { search: 'exact', memoryWeight: 0, eagerRetarget: true },
  { search: 'exact', memoryWeight: MEMORY_WEIGHT_PER_GB, eagerRetarget: true },
  { search: 'cached', memoryWeight: 0, eagerRetarget: true },
];
/** Large clusters: the cached search only (time). */
const LARGE_PORTFOLIO: readonly Strategy[] = [{ search: 'cached', memoryWeight: 0, eagerRetarget: false }];

/**
 * Step 4: balancing moves, priorities 2..5 by gain.
 * 1. Forward: the best move, again and again (a VM that already moves is retargeted instead, at
 *    no extra move), until the imbalance target, the move cap or no move pays for itself.
 * 2. Imbalance phase: retarget moves, swap destinations of two moves, exchange a move for a
 *    better one, while the imbalance drops (moves freed go back to step 1).
 * 3. Memory phase: exchange each move for the smallest-memory one (or drop it) while the
 *    imbalance stays within TUNING.slackShare of what steps 1-2 gained below the yardstick: the
 *    imbalance of the plain best-gain pass where its moves stopped being significant.
 * Up to TUNING.portfolioWork, several strategies run steps 1-2, each then runs step 3 against
 * the common yardstick, and the plan moving the least memory at or below the yardstick is kept
 * (the plain best-gain strategy always qualifies). Finally replay sequences the plan.
 */
export function balance(b: PlanBuilder): void {
  const level = b.level;
  if (level.targetImbalance === null) {
    b.balanceStop = `threshold ${level.threshold} keeps only mandatory moves`;
    return;
  }
  const small = searchWork(b) <= TUNING.portfolioWork;
  const strategies = small ? SMALL_PORTFOLIO : LARGE_PORTFOLIO;
  const thorough = small;
  const start = b.checkpoint();
  const optimized = strategies.map((strategy) => {
    b.restore(start);
    const plain = optimize(b, strategy, thorough);
    return { plain, improved: b.imbalance, state: b.checkpoint() };
  });
  // The plain best-gain pass (the first strategy), stopped where its moves stop being significant.
  const yardstick = optimized[0].plain;
  const target = level.targetImbalance;
  const results = optimized.map((o) => {
    b.restore(o.state);
    const slack = o.improved + TUNING.slackShare * Math.max(0, yardstick - o.improved);
    // A plan that reached the target keeps it: memory is saved only down to the target.
    spendSlack(b, o.improved <= target ? Math.min(slack, target) : slack, thorough);
    return { imbalance: b.imbalance, memoryMb: memoryMoved(b), state: b.checkpoint() };
  });
  const eligible = results.filter((r) => r.imbalance <= yardstick + 1e-12);
  const pool = eligible.length > 0 ? eligible : results;
  pool.sort((x, y) => x.memoryMb - y.memoryMb || x.imbalance - y.imbalance);
  b.restore(pool[0].state);
  replay(b);
  // The reason of the plan as it ends (a forward pass that went past the cap and reached the
  // target was cut back to the cap afterwards).
  if (b.imbalance <= target) b.balanceStop = atTarget(b.imbalance, target);
  else if (b.optionalBudget <= 0) b.balanceStop = atCap(b.maxOptionalMoves);
}

const atTarget = (imbalance: number, target: number) => `imbalance ${imbalance.toFixed(4)} is at or below the target ${target}`;
const atCap = (cap: number) => `maxMovesPerRun (${cap}) reached`;

function memoryMoved(b: PlanBuilder): number {
  let mb = 0;
  for (const x of b.planned) mb += b.model.vmMem[x.v];
  return mb;
}

function refineState(b: PlanBuilder): RefineState {
  const m = b.model;
  const s: RefineState = {
    movable: movableForBalance(b),
    moved: new Uint8Array(m.vmCount),
    groups: hostsByGroup(b),
    minGain: b.level.minBalancingGain ?? 0,
  };
  for (const x of b.planned) s.moved[x.v] = 1;
  return s;
}

/**
 * Step 3: drop balancing moves, the one that costs the least imbalance per GB of memory first, then
 * exchange moves for smaller ones, while the imbalance stays at or below `bound`.
 */
function spendSlack(b: PlanBuilder, bound: number, thorough: boolean): void {
  dropCheapest(b, bound);
  const s = refineState(b);
  for (let pass = 0; pass < (thorough ? TUNING.refinePasses : 1); pass++) {
    const options = { mode: 'memory', bound, sources: TUNING.refineSources, targets: TUNING.refineTargets, sameSource: !thorough } as const;
    if (!exchange(b, s, options)) break;
  }
  // Large clusters: a smaller replacement may also sit on another hot host (its coldest targets only: time).
  if (!thorough) exchange(b, s, { mode: 'memory', bound, sources: TUNING.refineSources, targets: TUNING.widerExchangeTargets, sameSource: false, onlySmaller: true });
}

/**
 * Steps 1 and 2 for one strategy. Returns the yardstick: the imbalance the forward pass had when
 * its best move stopped being significant (a drop of the reference imbalance below
 * SIGNIFICANT_GAIN), i.e. where a plain best-gain planner would stop; else where it ended.
 */
function optimize(b: PlanBuilder, strategy: Strategy, thorough: boolean): number {
  const m = b.model;
  const level = b.level;
  const target = level.targetImbalance ?? Infinity;
  const s = refineState(b);
  const cap = b.maxOptionalMoves;
  // Which planned move each VM already has (a second move of it becomes a retarget, for free).
  const plannedOf = new Map<number, PlannedMove>();
  const sync = () => {
    plannedOf.clear();
    s.moved.fill(0);
    for (const x of b.planned) {
      plannedOf.set(x.v, x);
      s.moved[x.v] = 1;
    }
  };
  const key = strategy.memoryWeight === 0 ? gainKey : (gain: number, _seconds: number, v: number) => gain - (strategy.memoryWeight * m.vmMem[v]) / 1024;
  const allow = (v: number, t: number) => {
    const x = plannedOf.get(v);
    if (x === undefined) return true;
    // An overload move may change target if it stays under the level; mandatory ones cannot go home.
    if (x.move.reason === 'overload') return t !== x.from && staysUnderOverloadLevel(b, v, t);
    return x.unit === undefined && !(x.move.priority === 1 && x.from === t);
  };
  const options = { movable: s.movable, key, minGain: s.minGain, allow };
  const cached = strategy.search === 'cached' ? new CachedSearch(b, s.groups, options, TUNING.targets) : null;
  const next = (): Candidate | null => (cached !== null ? cached.best() : bestMove(b, searchSpace(b, s.groups, 0), options));
  const changed = () => sync();

  const forward = (): void => {
    changed();
    for (;;) {
      if (b.imbalance <= target) {
        b.balanceStop = atTarget(b.imbalance, target);
        return;
      }
      if (b.optionalBudget <= 0) {
        while (retarget(b, s)) changed();
        b.balanceStop = atCap(cap);
        return;
      }
      const best = next();
      if (best === null) {
        // A VM that already moves may still go somewhere better (free); then look again.
        if (retarget(b, s)) {
          changed();
          continue;
        }
        b.balanceStop = 'no further move pays for itself';
        return;
      }
      // The yardstick: where a plain pass would stop, at the first move that is no longer significant.
      if (significantUntil === null && best.gain < SIGNIFICANT_GAIN * m.connectedCount) significantUntil = b.imbalance;
      const from = b.placement.host[best.v];
      const x = plannedOf.get(best.v);
      if (x !== undefined) moveAgain(b, x, best.to);
      else {
        b.apply(best.v, best.to, priorityOf(best.gain), 'balance', 'balance', b.score(PROFILES.optional, best.v, best.to));
        b.optionalMoves++;
      }
      changed();
      // VMs that already move to the two hosts just changed may now be better off elsewhere.
      if (strategy.eagerRetarget && retarget(b, s, new Set([from, best.to]))) changed();
    }
  };

  let significantUntil: number | null = null;
  if (strategy.eagerRetarget) retarget(b, s);
  const overshoot = thorough ? 0 : Math.ceil(cap * TUNING.overshoot);
  setCap(b, cap + overshoot);
  forward();
  setCap(b, cap);
  if (overshoot > 0) {
    dropWeakest(b);
    changed();
  }
  const plain = b.imbalance;
  for (let pass = 0; pass < (thorough ? TUNING.refinePasses : 1); pass++) {
    let improved = retarget(b, s);
    improved = swapTargets(b, s) || improved;
    sync();
    // (Large clusters look for a replacement only on the move's own source host: time.)
    const options = { mode: 'imbalance', bound: plain, sources: TUNING.refineSources, targets: TUNING.refineTargets, sameSource: !thorough } as const;
    improved = exchange(b, s, options) || improved;
    if (b.optionalBudget > 0) forward();
    if (!improved) break;
  }
  return significantUntil ?? plain;
}

/** A VM that already moves goes elsewhere instead: same move, new target (or no move if back home). */
function moveAgain(b: PlanBuilder, x: PlannedMove, to: number): void {
  b.placement.move(x.v, to);
  b.imbalance = b.placement.imbalance();
  if (to === x.from) {
    b.planned.splice(b.planned.indexOf(x), 1);
    b.optionalMoves--;
    return;
  }
  x.move.toHostId = b.model.hosts[to].id;
  if (x.move.priority !== 1) x.trace.step = 'refine';
}


function setCap(b: PlanBuilder, cap: number): void {
  b.maxOptionalMoves = cap;
}

/** Drops balancing moves, the one whose removal raises the imbalance least first, until the cap holds. */
function dropWeakest(b: PlanBuilder): void {
  undoBalancingMoves(b, (_x, after) => after, () => b.optionalMoves > b.maxOptionalMoves);
}

/** Drops the balancing move with the lowest imbalance cost per GB, while the imbalance stays at or below `bound`. */
function dropCheapest(b: PlanBuilder, bound: number): void {
  const m = b.model;
  undoBalancingMoves(
    b,
    (x, after) => (after > bound || m.vmMem[x.v] === 0 ? null : (after - b.imbalance) / m.vmMem[x.v]),
    () => true,
  );
}

/**
 * While `more()`, undoes the balancing move with the lowest `cost` (given the imbalance once it is
 * undone; null: not a candidate). Stops when no move is a candidate.
 */
function undoBalancingMoves(b: PlanBuilder, cost: (x: PlannedMove, after: number) => number | null, more: () => boolean): void {
  const p = b.placement;
  const ctx = b.context(PROFILES.optional);
  while (more()) {
    let pick = -1;
    let pickCost = Infinity;
    for (let i = 0; i < b.planned.length; i++) {
      const x = b.planned[i];
      if (x.move.reason !== 'balance') continue;
      const c = cost(x, p.imbalanceIfMoved(x.v, x.from));
      if (c !== null && c < pickCost && acceptsAll(PROFILES.optional, ctx, x.v, x.from)) {
        pickCost = c;
        pick = i;
      }
    }
    if (pick < 0) return;
    const [x] = b.planned.splice(pick, 1);
    p.move(x.v, x.from);
    b.imbalance = p.imbalance();
    b.optionalMoves--;
  }
}

/** VMs x connected hosts of their compatibility group, summed: what one exhaustive search step costs. */
function searchWork(b: PlanBuilder): number {
  const m = b.model;
  const groupSize = new Map<number, number>();
  for (let h = 0; h < m.hostCount; h++) if (m.connected[h]) groupSize.set(m.hostGroup[h], (groupSize.get(m.hostGroup[h]) ?? 0) + 1);
  let work = 0;
  for (let v = 0; v < m.vmCount; v++) work += groupSize.get(m.vmGroup[v]) ?? 0;
  return work;
}
