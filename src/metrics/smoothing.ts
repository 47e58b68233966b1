/**
 * Smoothing of measured load, pure and deterministic (no clock: the caller says what "now" is).
 *
 * In the manner of Xen Orchestra's 0.75 x last minute + 0.25 x last 30 minutes, with a median for
 * the short window instead of a mean, so that one spike moves nothing at all:
 *
 *   smoothed = 0.75 x median(samples of the last 5 minutes) + 0.25 x mean(samples of the last 30 minutes)
 *
 * At a 20 s interval the short window holds 15 samples: a spike (or a dip) shorter than half of it
 * never reaches the median, and reaches the long mean only by a fifteenth of its height times 0.25.
 * A sustained change moves the median after 2.5 minutes (75 % of the step at once) and the rest
 * follows over the 30 minutes of the long window. A figure with no sample in the short window has
 * no smoothed value: the inventory keeps the last one it had (and the VM is shown as stale).
 */
export const SMOOTHING = {
  shortWindowMs: 5 * 60_000,
  longWindowMs: 30 * 60_000,
  shortWeight: 0.75,
  longWeight: 0.25,
} as const;

export interface TimedValue {
  /** Milliseconds since the epoch. */
  at: number;
  value: number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * The smoothed value of one figure at `now` from its samples (any order; samples after `now` and
 * before the long window are ignored), or null when the short window has no sample.
 */
export function smooth(samples: readonly TimedValue[], now: number, windows: typeof SMOOTHING = SMOOTHING): number | null {
  const shortFrom = now - windows.shortWindowMs;
  const longFrom = now - windows.longWindowMs;
  const recent: number[] = [];
  let longSum = 0;
  let longCount = 0;
  for (const s of samples) {
    if (s.at > now || s.at <= longFrom) continue;
    longSum += s.value;
    longCount++;
    if (s.at > shortFrom) recent.push(s.value);
  }
  return smoothedOf(recent, longSum, longCount, windows);
}

/**
 * The smoothed value from what it is made of: the values of the short window, and the sum and
 * count of the long window's (null when the short window has none).
 */
export function smoothedOf(recent: readonly number[], longSum: number, longCount: number, windows: typeof SMOOTHING = SMOOTHING): number | null {
  if (recent.length === 0) return null;
  return windows.shortWeight * median(recent) + windows.longWeight * (longSum / longCount);
}

/**
 * Smooths a stream of samples as they arrive (for replays of a trace): keeps what the long window
 * needs and answers the smoothed value after each sample.
 */
export class StreamSmoother {
  private readonly window: TimedValue[] = [];

  constructor(private readonly windows: typeof SMOOTHING = SMOOTHING) {}

  push(sample: TimedValue): void {
    this.window.push(sample);
  }

  valueAt(now: number): number | null {
    const longFrom = now - this.windows.longWindowMs;
    let drop = 0;
    while (drop < this.window.length && this.window[drop].at <= longFrom) drop++;
    if (drop > 0) this.window.splice(0, drop);
    return smooth(this.window, now, this.windows);
  }
}

/** A figure is stale once its newest sample has left the short window: it has no smoothed value then. */
export function isStale(lastSampleAt: number | null, now: number, windows: typeof SMOOTHING = SMOOTHING): boolean {
  return lastSampleAt === null || now - lastSampleAt > windows.shortWindowMs;
}
