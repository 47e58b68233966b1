import { describe, expect, it } from '@jest/globals';
import { median, smooth, SMOOTHING, StreamSmoother, type TimedValue } from './smoothing.js';

const INTERVAL = 20_000;
const NOW = Date.UTC(2026, 11, 2, 12, 0, 0);

/** Samples every 20 s over the last `minutes`, the newest at NOW, valued by `f(age in ms)`. */
function series(minutes: number, f: (ageMs: number) => number): TimedValue[] {
  const out: TimedValue[] = [];
  for (let age = 0; age < minutes * 60_000; age += INTERVAL) out.push({ at: NOW - age, value: f(age) });
  return out.reverse();
}

describe('smoothing', () => {
  it('of a steady figure is the figure', () => {
    expect(smooth(series(30, () => 1000), NOW)).toBeCloseTo(1000, 9);
  });

  it('one spike moves the smoothed value by almost nothing', () => {
    const steady = series(30, () => 1000);
    const spiked = series(30, (age) => (age === 0 ? 10_000 : 1000));
    const moved = smooth(spiked, NOW)! - smooth(steady, NOW)!;
    // Only the long mean sees it: 0.25 x 9000 / 90 samples.
    expect(moved).toBeCloseTo(0.25 * (9000 / 90), 6);
    expect(moved / 9000).toBeLessThan(0.01);
  });

  it('a burst shorter than half the short window does not reach the median', () => {
    const burst = series(30, (age) => (age < 2 * 60_000 ? 5000 : 1000));
    const value = smooth(burst, NOW)!;
    expect(value).toBeLessThan(1000 + 0.25 * 4000 * (6 / 90) + 1e-6);
  });

  it('a sustained change moves it: 75 % within the short window, all of it after the long one', () => {
    const after3min = smooth(series(30, (age) => (age < 3 * 60_000 ? 2000 : 1000)), NOW)!;
    expect(after3min).toBeGreaterThan(1000 + 0.75 * 1000);
    expect(after3min).toBeLessThan(2000);
    const after30min = smooth(series(30, () => 2000), NOW)!;
    expect(after30min).toBeCloseTo(2000, 9);
  });

  it('has no value without a sample in the short window, and ignores samples after now', () => {
    const old = series(30, () => 1000).filter((s) => s.at <= NOW - SMOOTHING.shortWindowMs);
    expect(smooth(old, NOW)).toBeNull();
    expect(smooth([{ at: NOW + 1000, value: 5 }], NOW)).toBeNull();
    expect(smooth([], NOW)).toBeNull();
  });

  it('median of even and odd counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('a stream gives the same values as the window', () => {
    const samples = series(60, (age) => 1000 + ((age / INTERVAL) % 7) * 100);
    const stream = new StreamSmoother();
    for (const s of samples) {
      stream.push(s);
      const window = samples.filter((x) => x.at <= s.at);
      expect(stream.valueAt(s.at)).toBeCloseTo(smooth(window, s.at)!, 9);
    }
  });
});
