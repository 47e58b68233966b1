/**
 * The planner's public surface: pure, deterministic planning of one cluster snapshot
 * (docs/FORMAT.md), checking of given moves, and the reference imbalance.
 */
export { plan, type PlanResult } from './plan.js';
export type { PlanOptions } from './builder.js';
export { referenceImbalance } from './imbalance.js';
export { checkMoves, applyMoves, type MoveCheck, type MoveProblem } from './check-moves.js';
export { estimateCost, estimatePrecopy, type CostEstimate } from './cost.js';
export { thresholdLevel, overloadLine, priorityOf, PRIORITY_BANDS, type ThresholdLevel } from './thresholds.js';
export { ALL_FILTERS, type FilterPlugin, type Rejection } from './plugins/filters.js';
export { ALL_SCORERS, type ScorePlugin, type ScoreBreakdown } from './plugins/scores.js';
export { PROFILES, type Profile } from './profiles.js';
export type { PlanTrace, PlanSummary, MoveTrace, StayedTrace, PlanStep } from './trace.js';
export { validateSnapshot, SnapshotError } from './validate-snapshot.js';
export type * from './snapshot.js';
export { HOST_STATES, MOVE_REASONS, RULE_KINDS, RULE_MODES } from './snapshot.js';
