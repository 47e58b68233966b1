import { describe, expect, it } from '@jest/globals';
import { priorityOf, thresholdLevel } from './thresholds.js';

describe('threshold mapping', () => {
  it.each([
    { threshold: 1, kept: [1], target: null, overload: null },
    { threshold: 2, kept: [1, 2], target: 0.15, overload: 0.9 },
    { threshold: 3, kept: [1, 2, 3], target: 0.08, overload: 0.85 },
    { threshold: 4, kept: [1, 2, 3, 4], target: 0.04, overload: 0.8 },
    { threshold: 5, kept: [1, 2, 3, 4, 5], target: 0, overload: 0.75 },
  ])('threshold $threshold keeps priorities $kept', ({ threshold, kept, target, overload }) => {
    const level = thresholdLevel(threshold);
    expect(level.keptPriorities).toEqual(kept);
    expect(level.targetImbalance).toBe(target);
    expect(level.overloadUtilization).toBe(overload);
    expect(level.priorityBands.map((b) => b.priority)).toEqual(kept.filter((p) => p >= 2));
  });

  it('a balancing move needs the larger of the minimum goodness and the lowest kept band, in normalized gain', () => {
    expect(thresholdLevel(1).minBalancingGain).toBeNull();
    expect(thresholdLevel(2).minBalancingGain).toBe(0.05);
    expect(thresholdLevel(3).minBalancingGain).toBe(0.015);
    expect(thresholdLevel(4).minBalancingGain).toBe(0.005);
    expect(thresholdLevel(5).minBalancingGain).toBe(0.0015);
    const gates = [2, 3, 4, 5].map((t) => thresholdLevel(t).minBalancingGain as number);
    expect([...gates].sort((a, b) => b - a)).toEqual(gates);
  });

  it('gets more permissive with each level', () => {
    const rates = [2, 3, 4, 5].map((t) => thresholdLevel(t).gainPerSecond as number);
    expect([...rates].sort((a, b) => b - a)).toEqual(rates);
  });

  it.each([
    { gain: 0.2, priority: 2 },
    { gain: 0.05, priority: 2 },
    { gain: 0.02, priority: 3 },
    { gain: 0.005, priority: 4 },
    { gain: 0.0001, priority: 5 },
  ])('normalized gain $gain is priority $priority', ({ gain, priority }) => {
    expect(priorityOf(gain)).toBe(priority);
  });
});
