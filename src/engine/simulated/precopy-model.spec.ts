import { linkShareMbps } from '../link-share.js';
import {
  BYTES_PER_MIB,
  NONCONVERGING_DIRTY_RATE_MBPS,
  PRECOPY_CONSTANTS,
  PrecopyMigration,
} from './precopy-model.js';

/** A rate of `n` MiB/s in Mb/s, so that the hand computations below stay in MiB and seconds. */
const mibPerSecond = (n: number) => (n * BYTES_PER_MIB * 8) / 1e6;
const LINK_1_GIB_S = mibPerSecond(1024);

describe('PrecopyMigration (compute)', () => {
  it('converges in the number of passes computed by hand, with the figures to match', () => {
    // 1 GiB guest dirtying 256 MiB/s on a 1 GiB/s link, downtime limit 50 ms, switchover cost 20 ms:
    // pass 1: 1024 MiB in 1000 ms, 256 MiB dirtied -> 250 + 20 ms > 50
    // pass 2:  256 MiB in  250 ms,  64 MiB dirtied -> 62.5 + 20 ms > 50
    // pass 3:   64 MiB in 62.5 ms,  16 MiB dirtied -> 15.625 + 20 = 35.625 ms <= 50: switchover
    const model = new PrecopyMigration({ kind: 'compute', memoryMb: 1024, memoryDirtyRateMbps: mibPerSecond(256), downtimeLimitMs: 50 });
    const events = [model.progress(), ...model.runToEnd(LINK_1_GIB_S)];

    expect(model.status).toBe('succeeded');
    const outcome = model.outcome();
    expect(outcome.precopyIterations).toBe(3);
    expect(outcome.downtimeMs).toBeCloseTo(35.625, 6);
    expect(outcome.totalTimeMs).toBeCloseTo(500 + 1000 + 250 + 62.5 + 35.625, 6);
    expect(outcome.transferredBytes / BYTES_PER_MIB).toBeCloseTo(1024 + 256 + 64 + 16, 3);
    expect(outcome.maxThrottle).toBe(0);
    expect(outcome.networkNotified).toBe(true);
    expect(events.map((e) => `${e.phase}:${e.iteration}:${Math.round(e.remainingBytes / BYTES_PER_MIB)}`)).toEqual([
      'setup:0:1024',
      'precopy:1:1024',
      'precopy:2:256',
      'precopy:3:64',
      'switchover:3:16',
      'announce:3:0',
      'cleanup:3:0',
    ]);
  });

  it('converges after the first pass when the first dirty set already fits the limit', () => {
    // 1 GiB at 1 GiB/s dirtying 256 MiB/s: 256 MiB left -> 250 + 20 = 270 ms <= 300 ms.
    const model = new PrecopyMigration({ kind: 'compute', memoryMb: 1024, memoryDirtyRateMbps: mibPerSecond(256) });
    model.runToEnd(LINK_1_GIB_S);
    expect(model.outcome().precopyIterations).toBe(1);
    expect(model.outcome().downtimeMs).toBeCloseTo(270, 6);
  });

  it('throttles a guest that dirties more than half of what a pass sends, and converges sooner for it', () => {
    // 1 GiB dirtying 768 MiB/s on 1 GiB/s, limit 300 ms. Passes 1 and 2 are hot (dirty > 50 % of sent):
    // pass 1 1024 MiB / 1000 ms -> 768; pass 2 768 / 750 ms -> 576 (throttle 20 % from now on);
    // pass 3 576 / 562.5 ms at 614.4 MiB/s -> 345.6 (still hot: 30 %); pass 4 345.6 / 337.5 ms at
    // 537.6 MiB/s -> 181.44 MiB -> 177.1875 + 20 ms <= 300: switchover.
    const throttled = new PrecopyMigration({ kind: 'compute', memoryMb: 1024, memoryDirtyRateMbps: mibPerSecond(768) });
    const events = throttled.runToEnd(LINK_1_GIB_S);
    const outcome = throttled.outcome();
    expect(outcome.precopyIterations).toBe(4);
    expect(outcome.maxThrottle).toBeCloseTo(0.3, 9);
    expect(events.filter((e) => e.phase === 'precopy').map((e) => e.throttle)).toEqual([0, 0, 0.2, 0.3]);
    expect(outcome.downtimeMs).toBeCloseTo(197.1875, 6);
    expect(outcome.totalTimeMs).toBeCloseTo(500 + 1000 + 750 + 562.5 + 337.5 + 197.1875, 6);
    expect(outcome.transferredBytes / BYTES_PER_MIB).toBeCloseTo(1024 + 768 + 576 + 345.6 + 181.44, 3);

    // Without auto-converge the same guest needs 5 passes (768, 576, 432, 324, 243 MiB).
    const unthrottled = new PrecopyMigration(
      { kind: 'compute', memoryMb: 1024, memoryDirtyRateMbps: mibPerSecond(768) },
      { ...PRECOPY_CONSTANTS, throttleTriggerPasses: Infinity },
    );
    unthrottled.runToEnd(LINK_1_GIB_S);
    expect(unthrottled.outcome().precopyIterations).toBe(5);
    expect(unthrottled.outcome().maxThrottle).toBe(0);
  });

  it('fails cleanly after the pass bound when even a 99 % throttle cannot make the guest converge', () => {
    // 4 GiB resent every pass takes 3.4 s on 10 Gb/s: far above the 300 ms limit.
    const model = new PrecopyMigration({ kind: 'compute', memoryMb: 4096, memoryDirtyRateMbps: NONCONVERGING_DIRTY_RATE_MBPS });
    const events = model.runToEnd(10_000);

    expect(model.status).toBe('failed');
    expect(model.switchedOver).toBe(false);
    expect(model.failure?.code).toBe('not-converged');
    expect(model.failure?.message).toMatch(/after 30 passes/);
    expect(model.outcome().precopyIterations).toBe(PRECOPY_CONSTANTS.maxPasses);
    expect(model.outcome().networkNotified).toBe(false);
    // Every pass resends all memory; the throttle starts after two hot passes and climbs 10 points a pass to 99 %.
    const throttles = events.filter((e) => e.phase === 'precopy').map((e) => e.throttle);
    expect(throttles.slice(0, 11)).toEqual([0, 0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99]);
    expect(model.outcome().maxThrottle).toBe(0.99);
    expect(model.outcome().transferredBytes).toBe(30 * 4096 * BYTES_PER_MIB);
    expect(events.some((e) => e.phase === 'switchover')).toBe(false);
  });

  it('respects a lower pass bound', () => {
    const model = new PrecopyMigration(
      { kind: 'compute', memoryMb: 4096, memoryDirtyRateMbps: NONCONVERGING_DIRTY_RATE_MBPS },
      { ...PRECOPY_CONSTANTS, maxPasses: 4 },
    );
    model.runToEnd(10_000);
    expect(model.status).toBe('failed');
    expect(model.outcome().precopyIterations).toBe(4);
  });

  it('switches over at once when all of memory fits the downtime limit, however fast the guest dirties it', () => {
    // 256 MiB resent in 214.7 ms + 20 ms: QEMU too would just stop the guest and send it all.
    const model = new PrecopyMigration({ kind: 'compute', memoryMb: 256, memoryDirtyRateMbps: NONCONVERGING_DIRTY_RATE_MBPS });
    model.runToEnd(10_000);
    expect(model.status).toBe('succeeded');
    expect(model.outcome().precopyIterations).toBe(1);
    expect(model.outcome().downtimeMs).toBeCloseTo((256 * BYTES_PER_MIB) / 1_250_000 + 20, 6);
  });

  it('moves a powered-off VM cold: nothing copied, nothing announced', () => {
    const model = new PrecopyMigration({ kind: 'compute', memoryMb: 4096, running: false });
    const events = model.runToEnd(10_000);
    expect(events.map((e) => e.phase)).toEqual(['cleanup']);
    expect(model.outcome()).toEqual({
      totalTimeMs: PRECOPY_CONSTANTS.setupMs,
      downtimeMs: 0,
      transferredBytes: 0,
      precopyIterations: 0,
      maxThrottle: 0,
      networkNotified: false,
    });
  });

  it('gives the same figures whether stepped in small ticks or run in one go at a constant bandwidth', () => {
    const input = { kind: 'compute' as const, memoryMb: 16384, memoryDirtyRateMbps: 2000 };
    const whole = new PrecopyMigration(input);
    whole.runToEnd(10_000);
    const ticked = new PrecopyMigration(input);
    while (ticked.status === 'running') ticked.advance(100, 10_000);
    expect(ticked.outcome().precopyIterations).toBe(whole.outcome().precopyIterations);
    expect(ticked.outcome().totalTimeMs).toBeCloseTo(whole.outcome().totalTimeMs, 6);
    expect(ticked.outcome().transferredBytes).toBeCloseTo(whole.outcome().transferredBytes, -2);
  });

  it('takes longer when the bandwidth drops in the middle of a pass', () => {
    const input = { kind: 'compute' as const, memoryMb: 1024, memoryDirtyRateMbps: 0 };
    const steady = new PrecopyMigration(input);
    steady.runToEnd(LINK_1_GIB_S);
    const halved = new PrecopyMigration(input);
    halved.advance(500 + 500, LINK_1_GIB_S); // setup, then half the memory at full speed
    halved.runToEnd(LINK_1_GIB_S / 2); // the other half at half speed: 1000 ms instead of 500
    expect(halved.outcome().totalTimeMs - steady.outcome().totalTimeMs).toBeCloseTo(500, 6);
  });

  it('refuses inputs that make no sense, naming the field', () => {
    expect(() => new PrecopyMigration({ kind: 'compute', memoryMb: 0 })).toThrow(/memoryMb must be a positive number/);
    expect(() => new PrecopyMigration({ kind: 'compute', memoryMb: 1, memoryDirtyRateMbps: -1 })).toThrow(/memoryDirtyRateMbps/);
    expect(() => new PrecopyMigration({ kind: 'storage', memoryMb: 1, diskMb: Number.NaN })).toThrow(/diskMb/);
    expect(() => new PrecopyMigration({ kind: 'compute', memoryMb: 1 }).step(10, 0)).toThrow(/bandwidth/);
  });
});

describe('PrecopyMigration (storage)', () => {
  it('copies the disk, mirrors the blocks written meanwhile, then pivots', () => {
    // 2 GiB disk at 1 GiB/s, guest writing 64 MiB/s: pass 1 2000 ms, 128 MiB written meanwhile
    // -> 125 + 10 ms pivot <= 300 ms.
    const model = new PrecopyMigration({ kind: 'storage', memoryMb: 4096, diskMb: 2048, diskWriteRateMbps: mibPerSecond(64) });
    const events = model.runToEnd(LINK_1_GIB_S);
    expect(events.map((e) => e.phase)).toEqual(['mirror', 'switchover', 'cleanup']);
    const outcome = model.outcome();
    expect(outcome.precopyIterations).toBe(1);
    expect(outcome.downtimeMs).toBeCloseTo(135, 6);
    expect(outcome.totalTimeMs).toBeCloseTo(500 + 2000 + 135, 6);
    expect(outcome.transferredBytes / BYTES_PER_MIB).toBeCloseTo(2048 + 128, 3);
    expect(outcome.networkNotified).toBe(false);
  });

  it('copies a 20 GiB disk when the VM does not give its size', () => {
    const model = new PrecopyMigration({ kind: 'storage', memoryMb: 4096, running: false });
    model.runToEnd(10_000);
    expect(model.outcome().transferredBytes).toBe(PRECOPY_CONSTANTS.defaultDiskMb * BYTES_PER_MIB);
    expect(PRECOPY_CONSTANTS.defaultDiskMb).toBe(20 * 1024);
  });

  it('iterates over the dirty blocks when writes are heavy', () => {
    // 1 GiB disk at 1 GiB/s written at 512 MiB/s: 512 -> 256 MiB (250 + 10 ms <= 300): two passes.
    const model = new PrecopyMigration({ kind: 'storage', memoryMb: 1, diskMb: 1024, diskWriteRateMbps: mibPerSecond(512) });
    model.runToEnd(LINK_1_GIB_S);
    expect(model.outcome().precopyIterations).toBe(2);
    expect(model.outcome().downtimeMs).toBeCloseTo(260, 6);
  });
});

describe('linkShareMbps', () => {
  it('gives each migration its fair share of the busier of its two links', () => {
    expect(linkShareMbps(10_000, 1, 10_000, 1)).toBe(10_000);
    expect(linkShareMbps(10_000, 2, 10_000, 1)).toBe(5_000);
    expect(linkShareMbps(10_000, 8, 1_000, 1)).toBe(1_000);
    expect(linkShareMbps(10_000, 4, 10_000, 5)).toBe(2_000);
    expect(linkShareMbps(10_000, 0, 10_000, 0)).toBe(10_000);
  });
});
