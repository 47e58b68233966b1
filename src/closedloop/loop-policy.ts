import type { HealthActions, Policy } from '../planner/snapshot.js';
import { overloadLine, thresholdLevel } from '../planner/thresholds.js';

/**
 * The closed loop's policy fields with their defaults filled in. Every field is optional in the
 * snapshot (FORMAT.md's fields stay as they are); the defaults are documented in the README.
 */
export interface LoopPolicy {
  /** A detection acts only after it has held this long: one spike is not enough. */
  holdMs: number;
  /** Evaluation period when no cron is given. */
  intervalMs: number;
  cron: string | null;
  /** Balancing moves per VM per sliding day, averaged over the cluster. */
  maxMigrationsPerVmDay: number;
  /** Balancing moves into one host in one run (ProxLB's max_node_inflow); null: no cap. */
  maxInflowPerHost: number | null;
  /** The base of the growing per-VM cooldown. */
  cooldownBaseMs: number;
  healthActions: HealthActions;
  failedHostGraceMs: number;
  haRestart: boolean;
}

export const LOOP_DEFAULTS = {
  holdMinutes: 5,
  evaluationIntervalMinutes: 5,
  maxMigrationsPerVmDay: 0.5,
  cooldownBaseMinutes: 30,
  /** The growing cooldown never holds a VM longer than this. */
  cooldownCapMinutes: 24 * 60,
  healthActions: { moderate: 'quarantine', severe: 'maintenance' } as HealthActions,
  failedHostGraceSeconds: 60,
  haRestart: true,
} as const;

const MINUTE = 60_000;

export function loopPolicy(policy: Policy): LoopPolicy {
  return {
    holdMs: (policy.holdMinutes ?? LOOP_DEFAULTS.holdMinutes) * MINUTE,
    intervalMs: (policy.evaluationIntervalMinutes ?? LOOP_DEFAULTS.evaluationIntervalMinutes) * MINUTE,
    cron: policy.evaluationCron ?? null,
    maxMigrationsPerVmDay: policy.maxMigrationsPerVmDay ?? LOOP_DEFAULTS.maxMigrationsPerVmDay,
    maxInflowPerHost: policy.maxInflowPerHost ?? null,
    cooldownBaseMs: (policy.migrationCooldownMinutes || LOOP_DEFAULTS.cooldownBaseMinutes) * MINUTE,
    healthActions: { ...LOOP_DEFAULTS.healthActions, ...policy.healthActions },
    failedHostGraceMs: (policy.failedHostGraceSeconds ?? LOOP_DEFAULTS.failedHostGraceSeconds) * 1000,
    haRestart: policy.haRestart ?? LOOP_DEFAULTS.haRestart,
  };
}

/**
 * The lines a host's smoothed load is held against: the planner's overload line (the threshold's
 * soft-overload utilization, CPU lowered to the policy's hard cap), and at most the host's
 * capacity: at threshold 1, where only the hard caps count, a host above 100 % is still hot.
 */
export function overloadLines(policy: Policy): { cpu: number; memory: number } {
  const line = overloadLine(policy);
  return { cpu: Math.min(line.cpu, 1), memory: Math.min(line.memory, 1) };
}

/**
 * Balancing buys headroom: an imbalanced cluster is balanced only while its busiest host is within
 * this much of its overload line. Below that every host has room to spare, and on real workloads
 * the imbalance there is mostly load noise that comes back after each run: on Bitbrains-like
 * traces balancing it cost 0.2-0.4 migrations per VM-day and kept no host cooler (bench:simulate).
 */
export const BALANCING_HEADROOM = 0.15;

/**
 * The utilizations above which a host's load makes an imbalance worth moves: the overload lines
 * less BALANCING_HEADROOM; threshold 5 (aggressive) balances at any load.
 */
export function balancingLines(policy: Policy): { cpu: number; memory: number } {
  if (thresholdLevel(policy.migrationThreshold).threshold >= 5) return { cpu: 0, memory: 0 };
  const lines = overloadLines(policy);
  return { cpu: lines.cpu - BALANCING_HEADROOM, memory: lines.memory - BALANCING_HEADROOM };
}
