import { costSeconds } from '../cost.js';
import { shouldRuleChanges } from '../rules.js';
import type { Model } from '../model.js';
import type { FilterContext } from './filters.js';

/**
 * Score plugins: each rates a feasible move in one common unit, the *normalized gain* (drop of the
 * reference imbalance x connected hosts, see thresholds.ts), so that they can be weighted and
 * summed. A move pays for itself when its total is positive.
 */
export interface ScoreContext extends FilterContext {
  /** The reference imbalance of the current placement. */
  readonly imbalance: number;
  /** Normalized gain a move must buy per second of migration (the threshold's cost-benefit rate). */
  readonly gainPerSecond: number;
}

export interface ScorePlugin {
  readonly name: string;
  readonly weight: number;
  score(ctx: ScoreContext, v: number, to: number): number;
}

/**
 * Breaking a kept `should` rule costs as much as a priority-2 balancing step gains, so balancing
 * practically never does it; repairing one is worth a slight balancing step only (FORMAT: should
 * rules give way to balance), so it happens when it is nearly free.
 */
/**
 * What one GB of moved memory is worth in normalized gain when choosing between plans: the plan
 * cost J = imbalance x connected hosts + MEMORY_WEIGHT_PER_GB x GB moved is what the repair
 * choices, the balancing refinement and the drop of weak moves minimize.
 */
export const MEMORY_WEIGHT_PER_GB = 1e-4;

export const SHOULD_BREAK_PENALTY = 0.05;
export const SHOULD_REPAIR_BONUS = 0.002;

export function shouldRuleScore(model: Model, host: Int32Array, v: number, to: number): number {
  if (model.vmRules[v].length === 0) return 0;
  const { broken, repaired } = shouldRuleChanges(model, host, v, to);
  return repaired * SHOULD_REPAIR_BONUS - broken * SHOULD_BREAK_PENALTY;
}

export const balance: ScorePlugin = {
  name: 'balance',
  weight: 1,
  score: (ctx, v, to) => (ctx.imbalance - ctx.placement.imbalanceIfMoved(v, to)) * ctx.model.connectedCount,
};

export const migrationCost: ScorePlugin = {
  name: 'migration-cost',
  weight: 1,
  score: (ctx, v, to) => -costSeconds(ctx.model, v, ctx.placement.host[v], to) * ctx.gainPerSecond,
};

export const shouldRules: ScorePlugin = {
  name: 'should-rules',
  weight: 1,
  score: (ctx, v, to) => shouldRuleScore(ctx.model, ctx.placement.host, v, to),
};

export const ALL_SCORERS: readonly ScorePlugin[] = [balance, migrationCost, shouldRules];

export interface ScoreBreakdown {
  [plugin: string]: number;
  total: number;
}

export function scoreMove(scorers: readonly ScorePlugin[], ctx: ScoreContext, v: number, to: number): ScoreBreakdown {
  const out: ScoreBreakdown = { total: 0 };
  for (const s of scorers) {
    const value = s.score(ctx, v, to);
    out[s.name] = value;
    out.total += s.weight * value;
  }
  return out;
}

export function totalScore(scorers: readonly ScorePlugin[], ctx: ScoreContext, v: number, to: number): number {
  let total = 0;
  for (let i = 0; i < scorers.length; i++) total += scorers[i].weight * scorers[i].score(ctx, v, to);
  return total;
}
