import { plan, type PlanResult } from '../planner/plan.js';
import type { Move, Snapshot } from '../planner/snapshot.js';
import { heldVms, type Hold, type MoveRecord } from './anti-thrash.js';
import { windowState, type WindowState } from './change-windows.js';
import { churnBudget, type ChurnBudget } from './churn-budget.js';
import { detect, hostUtilizations, isHeld, type Detection } from './detection.js';
import { balancingLines, loopPolicy } from './loop-policy.js';

/**
 * One evaluation of one cluster, pure: the service and `ballast simulate` both call it (the same
 * detection, anti-thrash, budget, windows and planner), with the snapshot's demand smoothed, the
 * detections the last evaluation left open and the moves of the last day.
 *
 * Mandatory moves (evacuation, broken must rules, hard caps: priority 1) always run. Balancing and
 * soft-overload relief run only when a detection has held for the hold time (overload relief for an
 * overloaded host, balancing too when the cluster is imbalanced and a host is above its balancing
 * line), inside a change window, within the churn budget and per-run caps, and without the VMs the
 * growing cooldown holds back.
 */
export interface EvaluationInput {
  /** Demand smoothed; a VM whose migration is in flight stands on its target (and does not move again). */
  snapshot: Snapshot;
  now: number;
  previous: readonly Detection[];
  /** Migrations started in (at least) the last 24 h. */
  history: readonly MoveRecord[];
}

export interface Evaluation {
  detections: Detection[];
  fired: Detection[];
  cleared: Detection[];
  held: Map<string, Hold>;
  window: WindowState;
  budget: ChurnBudget;
  /** The moves to run (or recommend), a valid prefix of the plan. */
  moves: Move[];
  plan: PlanResult;
  /** In words an operator understands: what the evaluation did, or why it did nothing. */
  summary: string;
  /** The same as a code (the status's `planning.last.outcome`). */
  decision: EvaluationDecision;
}

/**
 * What an evaluation decided: `planned` moves (mandatory ones, or for a held detection), or why
 * not: `below-target` (no host above its line, the imbalance within its target), `holding` (a
 * detection waits for its hold time), `ample-headroom` (imbalanced, but no host above its
 * balancing line), `outside-window`, `budget-spent`, `no-move-pays`.
 */
export const EVALUATION_DECISIONS = ['planned', 'below-target', 'holding', 'ample-headroom', 'outside-window', 'budget-spent', 'no-move-pays'] as const;
export type EvaluationDecision = (typeof EVALUATION_DECISIONS)[number];

const MANDATORY = (m: Move) => m.priority === 1;

export function evaluate(input: EvaluationInput): Evaluation {
  const { snapshot, now, history } = input;
  const loop = loopPolicy(snapshot.policy);
  const found = detect(input.previous, snapshot, now);
  const heldDetections = found.open.filter((d) => isHeld(d, loop.holdMs, now));
  const lines = balancingLines(snapshot.policy);
  const busy = hostUtilizations(snapshot).some((h) => h.cpu > lines.cpu || h.memory > lines.memory);
  // An imbalance acts only where balancing buys headroom (see BALANCING_HEADROOM).
  const acting = heldDetections.filter((d) => d.kind !== 'imbalanced' || busy);
  const hot = new Set(found.open.filter((d) => d.kind === 'overloaded').map((d) => d.subject));
  const held = heldVms(history, hot, now, loop.cooldownBaseMs);
  const window = windowState(snapshot.policy.changeWindows, now);
  const budget = churnBudget(history, snapshot.vms.length, loop.maxMigrationsPerVmDay, now);

  const overloadHeld = acting.some((d) => d.kind === 'overloaded');
  const imbalanceHeld = acting.some((d) => d.kind === 'imbalanced');
  const optionalAllowed = (overloadHeld || imbalanceHeld) && window.open && budget.left > 0;
  const maxMoves = optionalAllowed ? Math.min(snapshot.policy.maxMovesPerRun, budget.left) : 0;
  const result = plan(snapshot, { maxMoves, held: new Map([...held].map(([id, h]) => [id, h.reason])) });

  // Every prefix of a plan is valid: keep the mandatory moves, then what the detections call for.
  const keep = (m: Move) => MANDATORY(m) || (optionalAllowed && (imbalanceHeld || m.reason === 'overload'));
  const moves: Move[] = [];
  for (const m of result.plan.moves) {
    if (!keep(m)) break;
    moves.push(m);
  }
  const idle = heldDetections.filter((d) => !acting.includes(d));
  const summary = describe({ moves, acting, idle, lines, open: found.open, window, budget, optionalAllowed, result, holdMs: loop.holdMs, now });
  const decision = decide(moves, acting, idle, found.open, window, budget);
  return { detections: found.open, fired: found.fired, cleared: found.cleared, held, window, budget, moves, plan: result, summary, decision };
}

/** The code of what `describe` says: the same cases in the same order. */
function decide(moves: Move[], acting: Detection[], idle: Detection[], open: Detection[], window: WindowState, budget: ChurnBudget): EvaluationDecision {
  if (moves.length > 0) return 'planned';
  if (open.length === 0) return 'below-target';
  if (acting.length === 0) return idle.length > 0 ? 'ample-headroom' : 'holding';
  if (!window.open) return 'outside-window';
  if (budget.left === 0) return 'budget-spent';
  return 'no-move-pays';
}

function describe(x: {
  moves: Move[];
  acting: Detection[];
  /** Held, but not acting: an imbalance with no host above its balancing line. */
  idle: Detection[];
  lines: { cpu: number; memory: number };
  open: Detection[];
  window: WindowState;
  budget: ChurnBudget;
  optionalAllowed: boolean;
  result: PlanResult;
  holdMs: number;
  now: number;
}): string {
  const mandatory = x.moves.filter(MANDATORY).length;
  const optional = x.moves.length - mandatory;
  const parts: string[] = [];
  if (x.moves.length > 0) {
    const what: string[] = [];
    if (mandatory > 0) what.push(`${mandatory} mandatory move${mandatory === 1 ? '' : 's'} (evacuation, rules, hard caps)`);
    if (optional > 0) what.push(`${optional} move${optional === 1 ? '' : 's'} to relieve ${x.acting.map(describeDetection).join(' and ')}`);
    parts.push(`planned ${what.join(' and ')}`);
  }
  if (optional === 0) {
    if (x.open.length === 0) parts.push('no host above its line and the cluster within its imbalance target: nothing to do');
    else if (x.acting.length === 0 && x.idle.length > 0) {
      parts.push(
        `${x.idle.map(describeDetection).join(' and ')}, but no host is above ${pct(x.lines.cpu)} CPU or ${pct(x.lines.memory)} memory: ` +
          'every host has headroom, so balancing waits until one is busier',
      );
    } else if (x.acting.length === 0) {
      const d = x.open[0];
      const left = Math.ceil((d.since + x.holdMs - x.now) / 1000);
      parts.push(`${describeDetection(d)} seen, waiting for it to hold ${Math.round(x.holdMs / 60_000)} min (${left} s left) before acting`);
    } else if (!x.window.open) {
      const next = x.window.next ? new Date(x.window.next.start).toISOString() : 'never';
      parts.push(`${x.acting.map(describeDetection).join(' and ')}, but outside the change windows: balancing waits until ${next}`);
    } else if (x.budget.left === 0) {
      parts.push(
        `${x.acting.map(describeDetection).join(' and ')}, but the churn budget is spent: ${x.budget.used} of ${x.budget.allowed} migrations in the last 24 h`,
      );
    } else {
      parts.push(`${x.acting.map(describeDetection).join(' and ')}, but no move pays for itself: ${x.result.trace.summary.balanceStop}`);
    }
  }
  return parts.join('; ');
}

const pct = (x: number) => `${(x * 100).toFixed(0)} %`;

export function describeDetection(d: Detection): string {
  if (d.kind === 'overloaded') return `${d.subject} overloaded (${d.resource} ${pct(d.value)}, line ${pct(d.line)})`;
  return `cluster imbalanced (${d.value.toFixed(3)}, target ${d.line})`;
}
