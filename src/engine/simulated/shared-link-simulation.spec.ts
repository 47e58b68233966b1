import { BYTES_PER_MIB, PRECOPY_CONSTANTS } from './precopy-model.js';
import { SharedLinkSimulation, type SimulatedMigrationSpec } from './shared-link-simulation.js';

const mibPerSecond = (n: number) => (n * BYTES_PER_MIB * 8) / 1e6;
const LINK = mibPerSecond(1024); // 1 GiB/s
const host = (id: string, mbps = LINK) => ({ id, migrationBandwidthMbps: mbps });

function compute(id: string, source: string, target: string, memoryMb = 1024, extra: Partial<SimulatedMigrationSpec> = {}): SimulatedMigrationSpec {
  return { id, kind: 'compute', memoryMb, memoryDirtyRateMbps: 0, source: host(source), target: host(target), ...extra };
}

describe('SharedLinkSimulation', () => {
  it('runs one migration alone at the full link speed', () => {
    const sim = new SharedLinkSimulation();
    sim.start(compute('a', 'h1', 'h2'));
    const [done] = sim.runUntilIdle();
    // setup 500 ms, 1 GiB at 1 GiB/s, switchover cost 20 ms (nothing left dirty)
    expect(done).toMatchObject({ id: 'a', status: 'succeeded', startedAtMs: 0 });
    expect(done.finishedAtMs).toBeCloseTo(1520, 6);
    expect(sim.nowMs).toBeCloseTo(1520, 6);
  });

  it('halves the bandwidth of two migrations sharing the source link: each pass takes twice as long', () => {
    const sim = new SharedLinkSimulation();
    sim.start(compute('a', 'h1', 'h2'));
    sim.start(compute('b', 'h1', 'h3'));
    sim.advance(); // both finish their setup
    expect(sim.shareMbps('a')).toBeCloseTo(LINK / 2, 6);
    const done = sim.runUntilIdle();
    expect(done).toHaveLength(2);
    for (const d of done) expect(d.outcome.totalTimeMs).toBeCloseTo(500 + 2000 + 20, 6);
  });

  it('gives the bandwidth back when a sharer ends', () => {
    const sim = new SharedLinkSimulation();
    sim.start(compute('small', 'h1', 'h2', 512));
    sim.start(compute('big', 'h1', 'h3', 1024));
    const ended = sim.runUntilIdle();
    const small = ended.find((e) => e.id === 'small')!;
    const big = ended.find((e) => e.id === 'big')!;
    // Both at 512 MiB/s until `small` has sent its 512 MiB (1000 ms); its 20 ms switchover still
    // shares the link (big sends 10.24 MiB); then big sends its last 501.76 MiB alone at 1 GiB/s.
    expect(small.finishedAtMs).toBeCloseTo(500 + 1000 + 20, 6);
    expect(big.finishedAtMs).toBeCloseTo(500 + 1000 + 20 + (501.76 / 1024) * 1000 + 20, 6);
  });

  it('is held back by a slower target link', () => {
    const sim = new SharedLinkSimulation();
    sim.start({ ...compute('a', 'h1', 'h2'), target: host('h2', LINK / 4) });
    sim.advance();
    expect(sim.shareMbps('a')).toBeCloseTo(LINK / 4, 6);
    const [done] = sim.runUntilIdle();
    expect(done.finishedAtMs).toBeCloseTo(500 + 4000 + 20, 6);
  });

  it('does not count migrations still in setup as sharing the link', () => {
    const sim = new SharedLinkSimulation();
    sim.start(compute('a', 'h1', 'h2'));
    sim.advance(); // a is sending now
    sim.start(compute('b', 'h1', 'h3'));
    expect(sim.shareMbps('a')).toBeCloseTo(LINK, 6);
    expect(sim.inFlightOnHost('h1')).toBe(2);
    expect(sim.inFlightOnHost('h3')).toBe(1);
    sim.advance(); // b's setup ends: now they share
    expect(sim.shareMbps('a')).toBeCloseTo(LINK / 2, 6);
  });

  it('runs a storage migration on its host link only', () => {
    const sim = new SharedLinkSimulation();
    sim.start({ id: 's', kind: 'storage', memoryMb: 1, diskMb: 2048, running: false, source: host('h1'), target: host('h1') });
    sim.start(compute('c', 'h2', 'h3'));
    sim.advance();
    expect(sim.shareMbps('s')).toBeCloseTo(LINK, 6);
    expect(sim.shareMbps('c')).toBeCloseTo(LINK, 6);
    const ended = sim.runUntilIdle();
    expect(ended.find((e) => e.id === 's')!.finishedAtMs).toBeCloseTo(500 + 2000 + PRECOPY_CONSTANTS.pivotCostMs, 6);
  });

  it('reports a migration that does not converge as failed', () => {
    const sim = new SharedLinkSimulation({ maxPasses: 3 });
    sim.start(compute('hot', 'h1', 'h2', 4096, { memoryDirtyRateMbps: 1e9 }));
    const [done] = sim.runUntilIdle();
    expect(done.status).toBe('failed');
    expect(done.failure?.code).toBe('not-converged');
  });

  it('empties a host of 100 VMs, 8 at a time, close to the bound of memory over link speed', () => {
    // The shape of the evacuation benchmark: a scheduler keeps at most 8 migrations on the host.
    const sim = new SharedLinkSimulation();
    const queue = Array.from({ length: 100 }, (_, i) => compute(`vm-${i}`, 'src', `dst-${i % 10}`, [16384, 8192, 4096, 2048][i % 4], {
      source: host('src', 10_000),
      target: host(`dst-${i % 10}`, 10_000),
      memoryDirtyRateMbps: 100,
    }));
    const totalBytes = queue.reduce((sum, q) => sum + q.memoryMb * BYTES_PER_MIB, 0);
    let maxOnHost = 0;
    const ended = [];
    while (queue.length > 0 || sim.inFlight > 0) {
      while (queue.length > 0 && sim.inFlightOnHost('src') < 8) sim.start(queue.shift()!);
      maxOnHost = Math.max(maxOnHost, sim.inFlightOnHost('src'));
      ended.push(...sim.advance());
    }
    expect(ended).toHaveLength(100);
    expect(ended.every((e) => e.status === 'succeeded')).toBe(true);
    expect(maxOnHost).toBe(8);
    const boundMs = totalBytes / (10_000 * 125);
    expect(sim.nowMs).toBeGreaterThan(boundMs);
    // Dirty pages resent (1.25 Gb/s each, 100 Mb/s dirty: ~8 %) and the first setup keep it above the bound.
    expect(sim.nowMs / boundMs).toBeLessThan(1.15);
  });
});
