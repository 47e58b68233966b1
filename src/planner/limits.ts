/**
 * The sane range of every number and time Ballast reads, from snapshots and API bodies alike
 * (docs/LIMITS.md lists them). They refuse only what no real cluster has: values a column cannot
 * hold (vcpus is an integer column), or that make sums overflow (a 1e308 capacity turned the
 * imbalance into NaN), never a large but real machine.
 */
export const LIMITS = {
  /** Host CPU capacity, VM demand, a pushed sample's CPU: 100 THz (a host of 10,000 cores at 10 GHz). */
  cpuMhz: 100_000_000,
  /** Host and VM memory, active memory, a pushed sample's memory: 1 PB. */
  memoryMb: 1_000_000_000,
  /** A VM's disks: 1 EB. */
  diskMb: 1_000_000_000_000,
  /** A VM's virtual CPUs (KVM allows 4,096 today). */
  vcpus: 65_536,
  /** A migration link or a dirty rate: 10 Tb/s. */
  rateMbps: 10_000_000,
  /** Each of the policy's resource weights (they are scaled to sum to 1). */
  resourceWeight: 1_000,
  memoryOvercommitRatio: 100,
  /** Moves in one plan (maxMovesPerRun, a plan's maxMoves). */
  movesPerPlan: 1_000_000,
  /** Policy durations in minutes: a year. */
  minutes: 525_600,
  /** Policy durations in seconds: a week. */
  seconds: 604_800,
  /** Counts per VM or host (maxMigrationsPerVmDay, maxInflowPerHost). */
  perVmOrHost: 100_000,
  /** The step of a metrics or imbalance series, in seconds: 366 days. */
  seriesStepSeconds: 31_622_400,
} as const;

/** Times Ballast accepts: from 1970 to the end of year 9999 (PostgreSQL and JavaScript hold both). */
export const EARLIEST_TIME = '1970-01-01T00:00:00Z';
export const LATEST_TIME = '9999-12-31T23:59:59Z';
const EARLIEST_MS = Date.parse(EARLIEST_TIME);
const LATEST_MS = Date.parse(LATEST_TIME);

/** Why a parsed time (milliseconds) is out of range, or null when it is in range. */
export function timeOutOfRange(ms: number): string | null {
  if (ms < EARLIEST_MS || ms > LATEST_MS) return `must be between ${EARLIEST_TIME} and ${LATEST_TIME}`;
  return null;
}
