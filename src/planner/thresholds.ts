/**
 * The migration threshold (1 conservative .. 5 aggressive), DRS style.
 *
 * Priorities: 1 is mandatory (evacuation, broken must rules, a host above a hard cap); balancing
 * and soft-overload moves get 2..5 from their *normalized gain*, the drop of the reference
 * imbalance times the number of connected hosts (a move's effect on a standard deviation shrinks
 * as 1/hosts, so this keeps the bands meaningful from 8 to 500 hosts):
 *
 *   priority 2: normalized gain >= 0.05   (a large step towards balance)
 *   priority 3: normalized gain >= 0.015
 *   priority 4: normalized gain >= 0.004
 *   priority 5: anything smaller that still pays for itself
 *
 * Threshold t keeps priorities 1..t and balances until the reference imbalance is at or below its
 * target; soft overload is utilization (CPU, or active memory) above `overloadUtilization`
 * (capped by the policy's maxCpuUtilization for CPU). A balancing move must be *good enough*: its
 * normalized gain is at least `minGoodness` (DRS's minimum goodness: no churn for a sliver of
 * balance), and it *pays for itself*: its normalized gain is at least `gainPerSecond` x its
 * estimated migration time (cost-benefit gate).
 *
 * Both gates are in normalized gain, so they scale with the cluster: in N connected hosts a move
 * must lower the imbalance by at least minGoodness / N (0.001 at threshold 3 in 15 hosts, 0.00003
 * in 500). One move shifts a standard deviation over N hosts by about 1/N, so an absolute minimum
 * drop would stop large clusters far above their target (it did: 0.001 let a 500-host cluster at
 * 0.138 make no move at all); a normalized one asks the same of a move at every size.
 *
 *   threshold  priorities  target imbalance  soft overload  min goodness  gain per migration-second
 *   1          1           (no balancing)    (hard caps)    -             -
 *   2          1-2         0.15              0.90           0.03          0.002
 *   3          1-3         0.08              0.85           0.015         0.0005
 *   4          1-4         0.04              0.80           0.005         0.0001
 *   5          1-5         0                 0.75           0.0015        0.00001
 */
export interface ThresholdLevel {
  threshold: number;
  keptPriorities: number[];
  /** null: no balancing at this level. */
  targetImbalance: number | null;
  /** null: only hard caps (maxCpuUtilization, memory overcommit) count as overload. */
  overloadUtilization: number | null;
  /** Minimum normalized gain per second of estimated migration time. */
  gainPerSecond: number | null;
  /** Minimum normalized gain of a balancing move (a drop of the reference imbalance of minGoodness / N in N hosts). */
  minGoodness: number | null;
  /** The lowest normalized gain a balancing move may have: its minimum goodness or the lowest kept priority's band. */
  minBalancingGain: number | null;
  /** The lowest normalized gain of each balancing priority 2..5. */
  priorityBands: { priority: number; minNormalizedGain: number }[];
}

export const PRIORITY_BANDS = [
  { priority: 2, minNormalizedGain: 0.05 },
  { priority: 3, minNormalizedGain: 0.015 },
  { priority: 4, minNormalizedGain: 0.004 },
  { priority: 5, minNormalizedGain: 0 },
];

const LEVELS: Record<number, Omit<ThresholdLevel, 'threshold' | 'keptPriorities' | 'priorityBands' | 'minBalancingGain'>> = {
  1: { targetImbalance: null, overloadUtilization: null, gainPerSecond: null, minGoodness: null },
  2: { targetImbalance: 0.15, overloadUtilization: 0.9, gainPerSecond: 0.002, minGoodness: 0.03 },
  3: { targetImbalance: 0.08, overloadUtilization: 0.85, gainPerSecond: 0.0005, minGoodness: 0.015 },
  4: { targetImbalance: 0.04, overloadUtilization: 0.8, gainPerSecond: 0.0001, minGoodness: 0.005 },
  5: { targetImbalance: 0, overloadUtilization: 0.75, gainPerSecond: 0.00001, minGoodness: 0.0015 },
};

export function thresholdLevel(threshold: number): ThresholdLevel {
  const t = Math.min(5, Math.max(1, Math.round(threshold)));
  const level = LEVELS[t];
  const lowestBand = PRIORITY_BANDS.find((b) => b.priority === t)?.minNormalizedGain ?? 0;
  return {
    threshold: t,
    keptPriorities: Array.from({ length: t }, (_, i) => i + 1),
    ...level,
    minBalancingGain: level.minGoodness === null ? null : Math.max(level.minGoodness, lowestBand),
    priorityBands: PRIORITY_BANDS.filter((b) => b.priority <= t),
  };
}

/**
 * CPU and active-memory utilization above which a host is (soft) overloaded under a policy: the
 * threshold's overload level, CPU also capped by maxCpuUtilization (Infinity: only hard caps).
 */
export function overloadLine(policy: { migrationThreshold: number; maxCpuUtilization?: number }): { cpu: number; memory: number } {
  const soft = thresholdLevel(policy.migrationThreshold).overloadUtilization;
  return { cpu: Math.min(soft ?? Infinity, policy.maxCpuUtilization ?? Infinity), memory: soft ?? Infinity };
}

/** The balancing priority (2..5) of a move with this normalized gain. */
export function priorityOf(normalizedGain: number): number {
  for (const band of PRIORITY_BANDS) if (normalizedGain >= band.minNormalizedGain) return band.priority;
  return 5;
}
