import { describe, expect, it } from '@jest/globals';
import { host, snapshot, vm } from '../../test/support/builders.js';
import { costSeconds, estimateCost } from './cost.js';
import { compileModel } from './model.js';

function model(vmOver: Parameters<typeof vm>[2], bandwidths: [number?, number?] = []) {
  return compileModel(
    snapshot({
      hosts: [host('h1', bandwidths[0] ? { migrationBandwidthMbps: bandwidths[0] } : {}), host('h2', bandwidths[1] ? { migrationBandwidthMbps: bandwidths[1] } : {})],
      vms: [vm('a', 'h1', vmOver)],
    }),
  );
}

describe('pre-copy cost estimate', () => {
  it('without a dirty rate: one pass of the configured memory over 10 Gb/s', () => {
    const c = estimateCost(model({ memoryMb: 10_000 }), 0, 0, 1);
    expect(c).toEqual({ seconds: 8, transferredMb: 10_000, rounds: 1, downtimeMs: 0, converges: true });
  });

  it('uses the slower of the two links', () => {
    expect(estimateCost(model({ memoryMb: 10_000 }, [1_000, 25_000]), 0, 0, 1).seconds).toBeCloseTo(80, 9);
  });

  it('re-sends dirtied pages in rounds that shrink geometrically, then switches over', () => {
    // 1250 MB/s link, 125 MB/s dirtied: each round is a tenth of the previous one; the 100 MB left
    // after two rounds fit the 300 ms switchover budget (375 MB).
    const c = estimateCost(model({ memoryMb: 10_000, memoryDirtyRateMbps: 1_000 }), 0, 0, 1);
    expect(c.converges).toBe(true);
    expect(c.rounds).toBe(2);
    expect(c.transferredMb).toBeCloseTo(10_000 + 1_000 + 100, 6);
    expect(c.downtimeMs).toBeCloseTo(80, 6);
    expect(c.seconds).toBeCloseTo(11_100 / 1_250, 9);
  });

  it('a guest that dirties faster than the link never converges: long downtime', () => {
    const c = estimateCost(model({ memoryMb: 4_096, memoryDirtyRateMbps: 20_000 }), 0, 0, 1);
    expect(c.converges).toBe(false);
    expect(c.rounds).toBe(30);
    expect(c.downtimeMs).toBeGreaterThan(3_000);
  });

  it('a powered-off VM moves no memory', () => {
    const c = estimateCost(model({ powerState: 'off' }), 0, 0, 1);
    expect(c.transferredMb).toBe(0);
    expect(c.seconds).toBeGreaterThan(0);
  });

  it('costSeconds agrees with the full estimate', () => {
    for (const over of [{ memoryMb: 8_192 }, { memoryMb: 8_192, memoryDirtyRateMbps: 400 }, { powerState: 'off' as const }]) {
      const m = model(over, [5_000]);
      expect(costSeconds(m, 0, 0, 1)).toBeCloseTo(estimateCost(m, 0, 0, 1).seconds, 9);
    }
  });
});
