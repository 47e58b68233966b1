import { jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { ConfigError } from '../../config/config-error.js';
import { macAddressFor } from '../mac-address.js';
import {
  MigrationCancelledError,
  MigrationEngineError,
  type EngineVm,
  type MigrationProgress,
  type MigrationRequest,
} from '../migration-engine.js';
import { failsByRate } from './fault-spec.js';
import { PRECOPY_CONSTANTS, PrecopyMigration } from './precopy-model.js';
import { SimulatedEngine, type SimulatedEngineOptions } from './simulated-engine.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const FILE_PREFIX = `ballast-test:simulated-engine:${process.pid}:`;
const FAST = 0.0001; // 10,000 times faster than real time

let redis: Redis;
let prefix: string;
let testNumber = 0;
const engines: SimulatedEngine[] = [];
const connections: Redis[] = [];

function engine(options: Partial<SimulatedEngineOptions> = {}): SimulatedEngine {
  const created = new SimulatedEngine({ redis, keyPrefix: prefix, timeScale: FAST, ...options });
  engines.push(created);
  return created;
}

/** A second connection, as a second worker process would have. */
function connection(): Redis {
  const created = new Redis(REDIS_URL);
  connections.push(created);
  return created;
}

function vm(id: string, memoryMb = 1024, extra: Partial<EngineVm> = {}): EngineVm {
  return { id, memoryMb, memoryDirtyRateMbps: 0, macAddress: macAddressFor(id), datastores: ['ds-1'], ...extra };
}

function compute(migrationId: string, guest: EngineVm, source = 'esx-1', target = 'esx-2'): MigrationRequest {
  return { migrationId, kind: 'compute', vm: guest, source: { id: source }, target: { id: target }, downtimeLimitMs: 300 };
}

async function rejection(promise: Promise<unknown>): Promise<MigrationEngineError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(MigrationEngineError);
    return error as MigrationEngineError;
  }
  throw new Error('expected the migration to fail');
}

/** What locate() says of a VM the engine knows (the test VMs' disks are on ds-1). */
const placed = (hostId: string, running = true, migrating = false) => ({ hostId, running, migrating, datastoreId: 'ds-1' });

/** Consecutive reports of the same value once: the stages and passes a migration went through. */
const changes = <T>(values: T[]) => values.filter((v, i) => i === 0 || v !== values[i - 1]);

/** The time a migration spent sending (setup and switchover excluded), in simulated ms. */
const sendingMs = (r: { totalTimeMs: number; downtimeMs: number }) => r.totalTimeMs - PRECOPY_CONSTANTS.setupMs - r.downtimeMs;

beforeAll(() => {
  redis = new Redis(REDIS_URL);
});

beforeEach(() => {
  testNumber += 1;
  prefix = `${FILE_PREFIX}${testNumber}:`;
});

afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

afterAll(async () => {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${FILE_PREFIX}*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await Promise.all(connections.map((c) => (c.status === 'end' ? undefined : c.quit())));
  await redis.quit();
});

describe('SimulatedEngine', () => {
  it('moves the VM: locate agrees, the network learned the MAC at the target, the figures are the model\'s', async () => {
    const sim = engine();
    const guest = vm('vm-1', 2048, { memoryDirtyRateMbps: 3000 });
    await sim.register([{ vm: guest, hostId: 'esx-1', running: true }]);
    const events: MigrationProgress[] = [];
    const seenDuring: unknown[] = [];

    const result = await sim.migrate(compute('m-1', guest), {
      onProgress: async (p) => {
        events.push(p);
        if (p.phase === 'precopy' && p.iteration === 1) seenDuring.push(await sim.locate('vm-1'));
      },
    });

    const expected = new PrecopyMigration({ kind: 'compute', memoryMb: 2048, memoryDirtyRateMbps: 3000, downtimeLimitMs: 300 });
    expected.runToEnd(10_000); // alone on 10 Gb/s links
    const figures = expected.outcome();
    expect(figures.precopyIterations).toBeGreaterThan(1);
    expect(result).toMatchObject({
      hostId: 'esx-2',
      precopyIterations: figures.precopyIterations,
      macPreserved: true,
      networkNotified: true,
      maxThrottle: 0,
    });
    expect(result.totalTimeMs).toBeCloseTo(figures.totalTimeMs, 2);
    expect(result.downtimeMs).toBeCloseTo(figures.downtimeMs, 2);
    expect(result.downtimeMs).toBeLessThanOrEqual(300);
    expect(result.transferredBytes).toBeCloseTo(figures.transferredBytes, -3);

    expect(seenDuring.length).toBeGreaterThan(0);
    expect(new Set(seenDuring.map((seen) => JSON.stringify(seen)))).toEqual(new Set([JSON.stringify(placed('esx-1', true, true))]));
    expect(await sim.locate('vm-1')).toEqual(placed('esx-2'));
    expect(await sim.networkLocation(macAddressFor('vm-1'))).toBe('esx-2');
    const phases = changes(events.map((e) => e.phase));
    expect(phases[0]).toBe('setup');
    expect(phases.slice(-3)).toEqual(['switchover', 'announce', 'cleanup']);
    expect(changes(events.filter((e) => e.phase === 'precopy').map((e) => e.iteration))).toEqual(
      Array.from({ length: figures.precopyIterations }, (_, i) => i + 1),
    );
  });

  it('registers VMs it does not know and keeps the placement of those it knows', async () => {
    const sim = engine();
    await sim.register([
      { vm: vm('vm-1'), hostId: 'esx-1', running: true },
      { vm: vm('vm-off'), hostId: 'esx-1', running: false },
    ]);
    await sim.register([{ vm: vm('vm-1'), hostId: 'esx-9', running: false }]);
    expect(await sim.locate('vm-1')).toEqual(placed('esx-1'));
    expect(await sim.locate('vm-off')).toEqual(placed('esx-1', false));
    expect(await sim.locate('vm-unknown')).toEqual({ hostId: null, running: false, migrating: false });
    await expect(sim.register([{ vm: vm('vm-2'), hostId: '', running: true }])).rejects.toThrow(/placements\[0\]\.hostId/);
  });

  it('moves a powered-off VM cold: no memory copied, nothing announced', async () => {
    const sim = engine();
    await sim.register([{ vm: vm('vm-off'), hostId: 'esx-1', running: false }]);
    const result = await sim.migrate(compute('m-off', vm('vm-off')));
    expect(result).toMatchObject({ hostId: 'esx-2', transferredBytes: 0, precopyIterations: 0, downtimeMs: 0, networkNotified: false });
    expect(await sim.locate('vm-off')).toEqual(placed('esx-2', false));
  });

  it('lets two engines (two workers) see one world and share a link: while both send, each gets half of it', async () => {
    const workerA = engine({ tickMs: 50 });
    const workerB = engine({ redis: connection(), tickMs: 50 });
    const guests = ['vm-alone', 'vm-a', 'vm-b'].map((id) => vm(id, 4096));
    await workerA.register(guests.map((g) => ({ vm: g, hostId: 'esx-1', running: true })));
    expect(await workerB.locate('vm-a')).toEqual(placed('esx-1'));

    const alone = await workerA.migrate(compute('m-alone', guests[0], 'esx-1', 'esx-2'));
    const reports = { a: [] as MigrationProgress[], b: [] as MigrationProgress[] };
    const [a, b] = await Promise.all([
      workerA.migrate(compute('m-a', guests[1], 'esx-1', 'esx-3'), { onProgress: (p) => void reports.a.push(p) }),
      workerB.migrate(compute('m-b', guests[2], 'esx-1', 'esx-4'), { onProgress: (p) => void reports.b.push(p) }),
    ]);

    // 4 GiB alone on 10 Gb/s: 3.4 s of sending.
    expect(sendingMs(alone)).toBeCloseTo((4096 * 1024 * 1024) / 1_250_000, 0);
    for (const [shared, seen] of [[a, reports.a], [b, reports.b]] as const) {
      const copying = seen.filter((p) => p.phase === 'precopy');
      // Each tick's bytes are the share the engine gave it: half the link while the other sends too, all of it alone.
      expect(copying.some((p) => p.bandwidthMbps === 5_000)).toBe(true);
      expect(copying.every((p) => p.bandwidthMbps === 5_000 || p.bandwidthMbps === 10_000)).toBe(true);
      for (const [before, after] of copying.slice(0, -1).map((p, i) => [p, copying[i + 1]])) {
        if (after.iteration !== before.iteration || after.remainingBytes === 0) continue;
        expect(after.transferredBytes - before.transferredBytes).toBe(50 * after.bandwidthMbps! * 125);
      }
      // Never less than half the link, and slower than alone for the time it shared it.
      expect(sendingMs(shared)).toBeGreaterThan(sendingMs(alone));
      expect(sendingMs(shared)).toBeLessThanOrEqual(2 * sendingMs(alone) + 1);
    }
    expect(await workerA.locate('vm-b')).toEqual(placed('esx-4'));
    expect(await workerB.locate('vm-a')).toEqual(placed('esx-3'));
  });

  it('reports the bytes of a pass as they move, tick by tick, from the first pass on', async () => {
    const sim = engine();
    const guest = vm('vm-big', 8192);
    const request = { ...compute('m-big', guest), source: { id: 'esx-1', migrationBandwidthMbps: 1000 }, target: { id: 'esx-2', migrationBandwidthMbps: 1000 } };
    const seen: MigrationProgress[] = [];
    await sim.migrate(request, { onProgress: (p) => void seen.push(p) });
    const firstPass = seen.filter((p) => p.phase === 'precopy' && p.iteration === 1);
    // 8 GiB over 1 Gb/s: 68.7 s, a report per 100 ms tick, each 100 ms x 1,000 Mb/s = 12.5 MB further.
    expect(firstPass.length).toBeGreaterThan(680);
    expect(firstPass[1].transferredBytes - firstPass[0].transferredBytes).toBe(12_500_000);
    expect(firstPass.every((p) => p.transferredBytes + p.remainingBytes === 8192 * 1024 * 1024 && p.bandwidthMbps === 1000)).toBe(true);
    expect(firstPass.map((p) => p.transferredBytes)).toEqual([...firstPass.map((p) => p.transferredBytes)].sort((x, y) => x - y));
  });

  it('reports a storage mirror\'s bytes as they move', async () => {
    const sim = engine();
    const guest = vm('vm-disk', 1024, { diskMb: 2048 });
    await sim.register([{ vm: guest, hostId: 'esx-1', running: true }]);
    const request: MigrationRequest = {
      migrationId: 's-mirror',
      kind: 'storage',
      vm: guest,
      source: { id: 'esx-1', migrationBandwidthMbps: 1000 },
      target: { id: 'esx-1', migrationBandwidthMbps: 1000 },
      sourceDatastoreId: 'ds-1',
      targetDatastoreId: 'ds-2',
      downtimeLimitMs: 300,
    };
    const seen: MigrationProgress[] = [];
    await sim.migrate(request, { onProgress: (p) => void seen.push(p) });
    const mirror = seen.filter((p) => p.phase === 'mirror' && p.iteration === 1);
    // 2 GiB over the host's 1 Gb/s link: 17 s, so about 170 reports with the bytes copied so far.
    expect(mirror.length).toBeGreaterThan(160);
    expect(mirror.some((p) => p.transferredBytes > 0 && p.remainingBytes > 0)).toBe(true);
  });

  it('completes at once with timeScale 0, in two Redis round trips', async () => {
    const sim = engine({ timeScale: 0 });
    const guest = vm('vm-1', 16384, { memoryDirtyRateMbps: 400 });
    await sim.migrate(compute('m-warm-up', vm('vm-warm')));
    const evalsha = jest.spyOn(redis, 'evalsha');
    const evalScript = jest.spyOn(redis, 'eval');
    const pipeline = jest.spyOn(redis, 'pipeline');
    try {
      const result = await sim.migrate(compute('m-1', guest));
      expect(evalsha).toHaveBeenCalledTimes(2);
      expect(evalScript).not.toHaveBeenCalled();
      expect(pipeline).not.toHaveBeenCalled();
      const expected = new PrecopyMigration({ kind: 'compute', memoryMb: 16384, memoryDirtyRateMbps: 400 });
      expected.runToEnd(10_000);
      expect(result.totalTimeMs).toBeCloseTo(expected.outcome().totalTimeMs, 2);
      expect(result.precopyIterations).toBe(expected.outcome().precopyIterations);
    } finally {
      evalsha.mockRestore();
      evalScript.mockRestore();
      pipeline.mockRestore();
    }
    expect(await sim.locate('vm-1')).toEqual(placed('esx-2'));
  });

  it('returns the recorded result for a repeated migrate, without moving again', async () => {
    const sim = engine();
    const guest = vm('vm-1');
    const first = await sim.migrate(compute('m-1', guest));
    const events: MigrationProgress[] = [];
    const again = await engine({ redis: connection() }).migrate(compute('m-1', guest), { onProgress: (p) => void events.push(p) });
    expect(again).toEqual(first);
    expect(events).toEqual([]);
    expect(await sim.locate('vm-1')).toMatchObject({ hostId: 'esx-2', migrating: false });

    // A new migration of the same VM from its old host is refused: it is not there any more.
    const stale = await rejection(sim.migrate(compute('m-2', guest)));
    expect(stale).toMatchObject({ code: 'vm-not-on-source', transient: false });
    expect(stale.message).toMatch(/runs on esx-2, not on esx-1/);
  });

  it('refuses a duplicate delivery while the first one still runs, and moves the VM once', async () => {
    const sim = engine({ tickMs: 50 });
    const guest = vm('vm-1', 8192);
    const outcomes = await Promise.allSettled([sim.migrate(compute('m-1', guest)), sim.migrate(compute('m-1', guest))]);
    const fulfilled = outcomes.filter((o) => o.status === 'fulfilled');
    const rejected = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(fulfilled).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    expect(rejected[0].reason).toMatchObject({ code: 'in-progress', transient: true });
    // Another migration of the same VM while it is in flight is refused too.
    const busy = sim.migrate(compute('m-slow', vm('vm-2', 65536)));
    let refused: MigrationEngineError | undefined;
    await sim.migrate(compute('m-2', vm('vm-2')), {}).catch((e: MigrationEngineError) => (refused = e));
    expect(refused).toMatchObject({ code: 'vm-busy', transient: true });
    await busy;
    expect(await sim.locate('vm-1')).toMatchObject({ hostId: 'esx-2', migrating: false });
  });

  it('does not duplicate a migration left in flight by a dead process, and takes it over once its lease runs out', async () => {
    const deadConnection = connection();
    const dying = engine({ redis: deadConnection, leaseMs: 2000, tickMs: 100, timeScale: 0.001 });
    const survivor = engine({ timeScale: 0, leaseMs: 2000 });
    const guest = vm('vm-1', 102_400);

    // The process dies (its Redis connection with it) in the middle of pre-copy.
    const died = await rejection(
      dying.migrate(compute('m-1', guest), {
        onProgress: (p) => {
          if (p.phase === 'precopy') deadConnection.disconnect();
        },
      }),
    );
    expect(died).toMatchObject({ code: 'engine-unavailable', transient: true });

    expect(await survivor.locate('vm-1')).toEqual(placed('esx-1', true, true));
    expect(await rejection(survivor.migrate(compute('m-1', guest)))).toMatchObject({ code: 'in-progress', transient: true });
    expect((await survivor.precheck(compute('m-1', guest))).ok).toBe(false);

    // Nobody renews the lease: after it runs out the VM is plainly on its source, and the migration can run again.
    let location = await survivor.locate('vm-1');
    for (let i = 0; i < 100 && location.migrating; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      location = await survivor.locate('vm-1');
    }
    expect(location).toEqual(placed('esx-1'));
    const result = await survivor.migrate(compute('m-1', guest));
    expect(result.hostId).toBe('esx-2');
    expect(await survivor.locate('vm-1')).toEqual(placed('esx-2'));
  });

  it('cancels at the next tick, leaving the VM on its source; the same migration can run again later', async () => {
    const sim = engine();
    const guest = vm('vm-1', 4096);
    const controller = new AbortController();
    const phases: string[] = [];
    const cancelled = sim.migrate(compute('m-1', guest), {
      signal: controller.signal,
      onProgress: (p) => {
        phases.push(p.phase);
        if (p.phase === 'precopy') controller.abort();
      },
    });
    await expect(cancelled).rejects.toBeInstanceOf(MigrationCancelledError);
    await expect(cancelled).rejects.toThrow(/stays on esx-1/);
    expect(phases).toEqual(['setup', 'precopy']);
    expect(await sim.locate('vm-1')).toEqual(placed('esx-1'));
    expect(await redis.hget(`${prefix}migration:m-1`, 'state')).toBe('cancelled');

    expect((await sim.migrate(compute('m-1', guest))).hostId).toBe('esx-2');
  });

  it('does not start a migration whose signal is already aborted', async () => {
    const sim = engine();
    await expect(sim.migrate(compute('m-1', vm('vm-1')), { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      MigrationCancelledError,
    );
    expect(await sim.locate('vm-1')).toEqual({ hostId: null, running: false, migrating: false });
  });

  it('moves a VM\'s disks to another datastore while it keeps running on its host', async () => {
    const sim = engine();
    const guest = vm('vm-1', 4096, { diskMb: 10_240 });
    await sim.register([{ vm: guest, hostId: 'esx-1', running: true }]);
    const request: MigrationRequest = {
      migrationId: 's-1',
      kind: 'storage',
      vm: guest,
      source: { id: 'esx-1' },
      target: { id: 'esx-1' },
      sourceDatastoreId: 'ds-1',
      targetDatastoreId: 'ds-2',
      downtimeLimitMs: 300,
    };
    const phases: string[] = [];
    const result = await sim.migrate(request, { onProgress: (p) => void phases.push(p.phase) });
    expect(result).toMatchObject({ hostId: 'esx-1', datastoreId: 'ds-2', macPreserved: true, networkNotified: false });
    expect(result.transferredBytes).toBeGreaterThan(10_240 * 1024 * 1024);
    expect(phases).toEqual(expect.arrayContaining(['setup', 'mirror', 'switchover', 'cleanup']));
    expect(phases).not.toContain('announce');
    expect(await sim.locate('vm-1')).toEqual({ hostId: 'esx-1', running: true, migrating: false, datastoreId: 'ds-2' });
    const again = await sim.precheck({ ...request, migrationId: 's-2' });
    expect(again).toEqual({ ok: false, reason: "VM vm-1's disks are on ds-2, not on ds-1" });
  });

  it('close() stops a running migration at once (VM on its source) and leaves the caller\'s connection open', async () => {
    const sim = engine({ timeScale: 1 });
    let started!: () => void;
    const setupSeen = new Promise<void>((resolve) => (started = resolve));
    const running = sim.migrate(compute('m-1', vm('vm-1', 65536)), { onProgress: () => started() });
    await setupSeen;
    await sim.close();
    expect(await rejection(running)).toMatchObject({ code: 'engine-closed', transient: true });
    expect(await engine().locate('vm-1')).toEqual(placed('esx-1'));
    expect(await redis.ping()).toBe('PONG');
    await expect(sim.migrate(compute('m-2', vm('vm-2')))).rejects.toMatchObject({ code: 'engine-closed' });
  });

  it('keeps worlds with different prefixes apart, and resetWorld() deletes only its own', async () => {
    const mine = engine();
    const other = engine({ keyPrefix: `${prefix}other:` });
    await mine.register([{ vm: vm('vm-1'), hostId: 'esx-1', running: true }]);
    await other.register([{ vm: vm('vm-1'), hostId: 'esx-7', running: true }]);
    expect((await other.locate('vm-1')).hostId).toBe('esx-7');
    await other.resetWorld();
    expect((await other.locate('vm-1')).hostId).toBeNull();
    expect((await mine.locate('vm-1')).hostId).toBe('esx-1');
  });

  describe('fault injection', () => {
    it('vm: every migration of that VM fails during pre-copy, and the VM stays on its source', async () => {
      const sim = engine({ faults: 'vm:vm-bad' });
      const phases: string[] = [];
      const error = await rejection(sim.migrate(compute('m-1', vm('vm-bad')), { onProgress: (p) => void phases.push(p.phase) }));
      expect(error).toMatchObject({ code: 'injected', transient: false });
      expect(error.message).toMatch(/vm:vm-bad/);
      expect(changes(phases)).toEqual(['setup', 'precopy']);
      expect(await sim.locate('vm-bad')).toEqual(placed('esx-1'));
      expect(await rejection(sim.migrate(compute('m-2', vm('vm-bad'))))).toMatchObject({ code: 'injected' });
      expect((await sim.migrate(compute('m-3', vm('vm-good')))).hostId).toBe('esx-2');
    });

    it('target: that host refuses incoming migrations, in precheck and in migrate', async () => {
      const sim = engine({ faults: 'target:esx-3' });
      expect(await sim.precheck(compute('m-1', vm('vm-1'), 'esx-1', 'esx-3'))).toEqual({
        ok: false,
        reason: 'esx-3 refuses incoming migrations (fault injection target:esx-3)',
      });
      expect(await rejection(sim.migrate(compute('m-1', vm('vm-1'), 'esx-1', 'esx-3')))).toMatchObject({
        code: 'target-refused',
        transient: false,
      });
      expect(await sim.locate('vm-1')).toEqual(placed('esx-1'));
      expect(await sim.precheck(compute('m-2', vm('vm-1'), 'esx-1', 'esx-2'))).toEqual({ ok: true });
    });

    it('transient: the first N attempts fail with a transient error, the next one succeeds', async () => {
      const sim = engine({ faults: 'transient:vm-1:2' });
      const other = engine({ redis: connection(), faults: 'transient:vm-1:2' });
      expect(await rejection(sim.migrate(compute('m-1', vm('vm-1'))))).toMatchObject({ code: 'transient', transient: true });
      // The attempts are counted in Redis: a retry on another worker is attempt 2.
      expect(await rejection(other.migrate(compute('m-1', vm('vm-1'))))).toMatchObject({ code: 'transient', transient: true });
      expect(await sim.locate('vm-1')).toMatchObject({ hostId: 'esx-1', migrating: false });
      expect((await sim.migrate(compute('m-1', vm('vm-1')))).hostId).toBe('esx-2');
    });

    it('rate: the migrations a hash of their id picks fail, the same ones in every process', async () => {
      const sim = engine({ timeScale: 0, faults: 'rate:0.3' });
      const ids = Array.from({ length: 40 }, (_, i) => `m-${i}`);
      const failed: string[] = [];
      for (const [i, id] of ids.entries()) {
        await sim.migrate(compute(id, vm(`vm-${i}`))).catch((error: MigrationEngineError) => {
          expect(error).toMatchObject({ code: 'injected', transient: false });
          failed.push(id);
        });
      }
      expect(failed).toEqual(ids.filter((id) => failsByRate(id, 0.3)));
      expect(failed.length).toBeGreaterThan(0);
      expect(failed.length).toBeLessThan(ids.length);
    });

    it('nonconverge: the guest is throttled up to 99 %, then the migration fails and the VM stays', async () => {
      const sim = engine({ timeScale: 0, faults: 'nonconverge:vm-hot' });
      const throttles: number[] = [];
      const error = await rejection(
        sim.migrate(compute('m-1', vm('vm-hot', 4096)), { onProgress: (p) => void throttles.push(p.throttle ?? 0) }),
      );
      expect(error).toMatchObject({ code: 'not-converged', transient: false });
      expect(error.message).toMatch(/did not converge after 30 passes.*stays on esx-1/);
      expect(Math.max(...throttles)).toBe(0.99);
      expect(await sim.locate('vm-hot')).toEqual(placed('esx-1'));
      expect(JSON.parse((await redis.hget(`${prefix}migration:m-1`, 'error'))!)).toMatchObject({ code: 'not-converged', iteration: 30 });
    });

    it('refuses a bad fault setting naming the bad part', () => {
      expect(() => engine({ faults: 'vm:a,bogus' })).toThrow(ConfigError);
      expect(() => engine({ faults: 'vm:a,bogus' })).toThrow(/bad part "bogus"/);
    });
  });

  describe('restart (HA on shared storage)', () => {
    const restart = (migrationId: string, guest: EngineVm, failedHost = 'esx-1', target = 'esx-2') => ({
      migrationId,
      vm: guest,
      failedHost: { id: failedHost },
      target: { id: target },
    });

    it('starts the VM on the target: locate agrees, the boot time is modelled, a repeated call starts nothing twice', async () => {
      const sim = engine({ bootBaseMs: 10_000, bootMsPerGb: 1_000 });
      await sim.register([{ vm: vm('vm-1', 4096), hostId: 'esx-1', running: true }]);
      const first = await sim.restart(restart('r-1', vm('vm-1', 4096)));
      expect(first).toEqual({ hostId: 'esx-2', running: true, bootTimeMs: 14_000 });
      expect(await sim.locate('vm-1')).toEqual(placed('esx-2'));
      expect(await sim.networkLocation(macAddressFor('vm-1'))).toBe('esx-2');
      // The same restart again (a worker retrying after a crash) answers the first result, even with another target.
      expect(await sim.restart(restart('r-1', vm('vm-1', 4096), 'esx-1', 'esx-3'))).toEqual(first);
      expect(await sim.locate('vm-1')).toEqual(placed('esx-2'));
    });

    it('refuses a second restart of a VM already brought up elsewhere, and a VM that never was on the failed host', async () => {
      const sim = engine();
      await sim.register([{ vm: vm('vm-1'), hostId: 'esx-1', running: true }]);
      await sim.restart(restart('r-1', vm('vm-1')));
      const again = await rejection(sim.restart(restart('r-2', vm('vm-1'), 'esx-1', 'esx-3')));
      expect(again).toMatchObject({ code: 'vm-not-on-source', transient: false });
      expect(again.message).toMatch(/runs on esx-2, not on the failed host esx-1/);
      expect(await sim.locate('vm-1')).toEqual(placed('esx-2'));
    });

    it('powers on a VM that was off, and a VM the engine did not know is taken as on the failed host', async () => {
      const sim = engine();
      await sim.register([{ vm: vm('vm-off'), hostId: 'esx-1', running: false }]);
      await sim.restart(restart('r-1', vm('vm-off')));
      expect(await sim.locate('vm-off')).toEqual(placed('esx-2'));
      await sim.restart(restart('r-2', vm('vm-new'), 'esx-1', 'esx-3'));
      expect(await sim.locate('vm-new')).toEqual(placed('esx-3'));
    });

    it('refuses a bad request and a refusing target, leaving the VM where it was', async () => {
      const sim = engine({ faults: 'target:esx-2' });
      await sim.register([{ vm: vm('vm-1'), hostId: 'esx-1', running: true }]);
      expect(await rejection(sim.restart(restart('r-1', vm('vm-1'), 'esx-1', 'esx-1')))).toMatchObject({ code: 'invalid-request', transient: false });
      const refused = await rejection(sim.restart(restart('r-2', vm('vm-1'))));
      expect(refused).toMatchObject({ code: 'target-refused', transient: false });
      expect(await sim.locate('vm-1')).toEqual(placed('esx-1'));
    });
  });

  describe('bad input', () => {
    it('names the field of a bad request, in migrate and in precheck', async () => {
      const sim = engine();
      const bad = { ...compute('m-1', vm('vm-1', -5)) };
      const error = await rejection(sim.migrate(bad));
      expect(error).toMatchObject({ code: 'invalid-request', transient: false });
      expect(error.message).toMatch(/vm\.memoryMb must be a positive number: -5/);
      expect(await sim.precheck(compute('m-1', vm('vm-1'), 'esx-1', 'esx-1'))).toEqual({
        ok: false,
        reason: 'invalid migration request: target.id is the source host esx-1',
      });
      expect(await sim.locate('vm-1')).toEqual({ hostId: null, running: false, migrating: false });
    });

    it('names the bad constructor option', () => {
      expect(() => engine({ timeScale: -1 })).toThrow(/timeScale must be a number >= 0/);
      expect(() => engine({ tickMs: 0 })).toThrow(/tickMs must be a number > 0/);
      expect(() => engine({ keyPrefix: '' })).toThrow(/keyPrefix/);
      expect(() => engine({ timeScale: 1, tickMs: 1000, leaseMs: 1000 })).toThrow(/leaseMs .* must cover two ticks/);
    });
  });
});
