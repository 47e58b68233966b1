import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { macAddressFor } from '../mac-address.js';
import {
  MigrationCancelledError,
  MigrationEngineError,
  type EngineVm,
  type MigrationPhase,
  type MigrationProgress,
  type MigrationRequest,
} from '../migration-engine.js';
import type { MigrationRecord } from './migration-records.js';
import { readJson } from './files.js';
import { sleep } from './processes.js';
import { QemuEngine } from './qemu-engine.js';
import { QemuLab } from './qemu-lab.js';

function vm(id: string, overrides: Partial<EngineVm> = {}): EngineVm {
  return { id, memoryMb: 32, macAddress: macAddressFor(id), datastores: ['ds-a'], diskMb: 32, memoryDirtyRateMbps: 16, ...overrides };
}

function move(migrationId: string, machine: EngineVm, from: string, to: string, bandwidthMbps = 400): MigrationRequest {
  return {
    migrationId,
    kind: 'compute',
    vm: machine,
    source: { id: from, migrationBandwidthMbps: bandwidthMbps },
    target: { id: to, migrationBandwidthMbps: bandwidthMbps },
    downtimeLimitMs: 300,
  };
}

async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

const exists = (path: string) => stat(path).then(() => true, () => false);

describe('QemuEngine: live migrations of real QEMU guests', () => {
  let lab: QemuLab;
  let engine: QemuEngine;

  /** Where the VM's QEMU processes are: host -> run state. */
  async function where(vmId: string): Promise<Record<string, string | null>> {
    const probes = await lab.inspect(vmId);
    return Object.fromEntries(probes.filter((p) => p.alive).map((p) => [p.instance.hostId, p.status]));
  }

  async function record(migrationId: string): Promise<MigrationRecord | null> {
    return readJson<MigrationRecord>(join(lab.migrationsDir, `${migrationId}.json`));
  }

  beforeAll(async () => {
    lab = new QemuLab({ stateDir: await mkdtemp(join(tmpdir(), 'bq-engine-')) });
    engine = new QemuEngine({ lab, pollIntervalMs: 25 });
  });

  afterAll(async () => {
    await engine.close();
    await lab.destroy();
  });

  describe('a completed migration', () => {
    const web = vm('web-1');
    const request = move('m-web-1', web, 'host-a', 'host-b');
    const progress: MigrationProgress[] = [];
    let result: Awaited<ReturnType<QemuEngine['migrate']>>;
    let sourceMac: string;

    beforeAll(async () => {
      await engine.register([{ vm: web, hostId: 'host-a', running: true }]);
      const [source] = await lab.instances('web-1');
      sourceMac = await lab.withProbe(source, (c) => c.execute<string>('qom-get', { path: '/machine/peripheral/net0', property: 'mac' }));
      expect(await engine.precheck(request)).toEqual({ ok: true });
      result = await engine.migrate(request, { onProgress: (p) => void progress.push(p) });
    });

    it('moves the running guest to the target with its MAC, stops and removes the source', async () => {
      expect(await where('web-1')).toEqual({ 'host-b': 'running' });
      expect(await exists(join(lab.stateDir, 'hosts', 'host-a', 'web-1'))).toBe(false);
      const [destination] = await lab.instances('web-1');
      const mac = await lab.withProbe(destination, (c) => c.execute<string>('qom-get', { path: '/machine/peripheral/net0', property: 'mac' }));
      expect(mac).toBe(sourceMac);
      expect(mac).toBe(macAddressFor('web-1'));
      expect(await lab.vm('web-1')).toMatchObject({ hostId: 'host-b', running: true });
    });

    it("records QEMU's own figures, the MAC check and the announcement", async () => {
      expect(result).toMatchObject({ hostId: 'host-b', datastoreId: 'ds-a', macPreserved: true, networkNotified: true });
      expect(result.totalTimeMs).toBeGreaterThan(0);
      expect(result.downtimeMs).toBeGreaterThanOrEqual(0);
      // QEMU's own downtime-limit for the switchover, read back: the 300 ms of the request.
      expect(result.downtimeLimitMs).toBe(300);
      // The guest dirties its memory, so QEMU copies all 32 MiB once and then the pages dirtied meanwhile.
      expect(result.transferredBytes).toBeGreaterThan(30 * 1024 * 1024);
      expect(result.precopyIterations).toBeGreaterThanOrEqual(2);
      const saved = await record('m-web-1');
      expect(saved).toMatchObject({ state: 'completed', result, sourceHostId: 'host-a', targetHostId: 'host-b' });
      expect(saved?.figures?.totalTimeMs).toBe(result.totalTimeMs);
    });

    it('reports progress through every phase, with the pre-copy figures growing', () => {
      const phases = [...new Set(progress.map((p) => p.phase))];
      expect(phases).toEqual(['setup', 'precopy', 'switchover', 'announce', 'cleanup'] satisfies MigrationPhase[]);
      const precopy = progress.filter((p) => p.phase === 'precopy');
      expect(precopy.length).toBeGreaterThanOrEqual(2);
      expect(precopy.at(-1)!.transferredBytes).toBeGreaterThan(precopy[0].transferredBytes);
      expect(precopy[0].iteration).toBeGreaterThanOrEqual(1);
    });

    it('returns the same result for a repeated call, without moving the VM again', async () => {
      const [before] = await lab.instances('web-1');
      expect(await engine.migrate(request)).toEqual(result);
      const [after] = await lab.instances('web-1');
      expect(after).toMatchObject({ hostId: 'host-b', pid: before.pid });
    });

    it('is located on the target by a new engine, as a restarted worker would ask', async () => {
      const restarted = new QemuEngine({ stateDir: lab.stateDir });
      try {
        expect(await restarted.locate('web-1')).toEqual({ hostId: 'host-b', running: true, migrating: false, datastoreId: 'ds-a' });
        expect(await restarted.locate('nobody')).toEqual({ hostId: null, running: false, migrating: false });
      } finally {
        await restarted.close();
      }
    });

    it('keeps the VM where it moved when the inventory registers it again with its old host', async () => {
      const [before] = await lab.instances('web-1');
      await engine.register([{ vm: web, hostId: 'host-a', running: true }]);
      expect(await where('web-1')).toEqual({ 'host-b': 'running' });
      expect((await lab.instances('web-1'))[0].pid).toBe(before.pid);
    });

    it('refuses, in precheck, a move of a VM from a host it is not on', async () => {
      const check = await engine.precheck(move('m-web-2', web, 'host-a', 'host-c'));
      expect(check.ok).toBe(false);
      expect(check.reason).toContain('runs on host host-b');
    });
  });

  it('divides a link among the migrations sharing it, and divides it again as they start and end', async () => {
    const big = vm('share-a', { memoryMb: 64, memoryDirtyRateMbps: 1 });
    const small = vm('share-b', { memoryMb: 16, memoryDirtyRateMbps: 1 });
    await engine.register([big, small].map((guest) => ({ vm: guest, hostId: 'host-a', running: true })));
    /** QEMU's max-bandwidth on the VM's source, in Mb/s. */
    const limitOnSource = async (vmId: string) => {
      const source = (await lab.instances(vmId)).find((i) => i.hostId === 'host-a')!;
      const parameters = await lab.withProbe(source, (c) => c.execute<{ 'max-bandwidth': number }>('query-migrate-parameters'));
      return (parameters['max-bandwidth'] * 8) / 1_000_000;
    };
    const copying = (seen: MigrationProgress[]) => seen.some((p) => p.phase === 'precopy' && p.transferredBytes > 0);
    const bigSeen: MigrationProgress[] = [];
    const smallSeen: MigrationProgress[] = [];
    // 80 Mb/s links: 64 MiB alone take about 7 s.
    const bigRun = engine.migrate(move('m-share-a', big, 'host-a', 'host-b', 80), { onProgress: (p) => void bigSeen.push(p) });
    await waitUntil(() => copying(bigSeen), 'the big VM to copy');
    expect(await limitOnSource('share-a')).toBe(80);

    const smallRun = engine.migrate(move('m-share-b', small, 'host-a', 'host-c', 80), { onProgress: (p) => void smallSeen.push(p) });
    await waitUntil(() => copying(smallSeen), 'the small VM to copy');
    // Both leave host-a: 40 Mb/s each, set in QEMU, not 80 each.
    expect(await limitOnSource('share-a')).toBe(40);
    expect(await limitOnSource('share-b')).toBe(40);
    await smallRun;
    await waitUntil(async () => (await limitOnSource('share-a')) === 80, 'the big VM to get the whole link back');
    const result = await bigRun;
    expect(result.hostId).toBe('host-b');

    const shares = (seen: MigrationProgress[]) =>
      seen.filter((p) => p.phase === 'precopy').map((p) => p.bandwidthMbps).filter((v, i, all) => i === 0 || v !== all[i - 1]);
    expect(shares(bigSeen)).toEqual([80, 40, 80]);
    expect(shares(smallSeen)).toEqual([40]);
  });

  it('cancels on abort: the VM keeps running on the source and no destination is left', async () => {
    const busy = vm('cancel-1', { memoryDirtyRateMbps: 80 });
    await engine.register([{ vm: busy, hostId: 'host-a', running: true }]);
    const [source] = await lab.instances('cancel-1');
    const abort = new AbortController();
    const request = move('m-cancel-1', busy, 'host-a', 'host-b', 8); // 1 MB/s: far too slow to finish first
    let sawDestination = false;
    const outcome = await engine
      .migrate(request, {
        signal: abort.signal,
        onProgress: async (p) => {
          if (p.phase === 'precopy' && p.transferredBytes > 0) {
            sawDestination = (await where('cancel-1'))['host-b'] === 'inmigrate';
            abort.abort();
          }
        },
      })
      .catch((e: unknown) => e);
    expect(outcome).toBeInstanceOf(MigrationCancelledError);
    expect(sawDestination).toBe(true);
    expect(await where('cancel-1')).toEqual({ 'host-a': 'running' });
    expect((await lab.instances('cancel-1')).map((i) => [i.hostId, i.pid])).toEqual([['host-a', source.pid]]);
    expect((await record('m-cancel-1'))?.state).toBe('cancelled');
    expect(await engine.locate('cancel-1')).toMatchObject({ hostId: 'host-a', running: true, migrating: false });
  });

  it('fails when the destination QEMU is killed mid-migration, leaving the VM running on the source', async () => {
    const busy = vm('kill-1', { memoryDirtyRateMbps: 80 });
    await engine.register([{ vm: busy, hostId: 'host-a', running: true }]);
    let killed: number | null = null;
    const outcome = await engine
      .migrate(move('m-kill-1', busy, 'host-a', 'host-b', 8), {
        onProgress: async (p) => {
          if (killed === null && p.phase === 'precopy' && p.transferredBytes > 0) {
            const destination = (await lab.instances('kill-1')).find((i) => i.hostId === 'host-b')!;
            killed = destination.pid!;
            process.kill(killed, 'SIGKILL');
          }
        },
      })
      .catch((e: unknown) => e);
    expect(killed).not.toBeNull();
    expect(outcome).toBeInstanceOf(MigrationEngineError);
    expect(outcome).not.toBeInstanceOf(MigrationCancelledError);
    expect(outcome).toMatchObject({ transient: false, code: 'destination-failed' });
    expect((outcome as Error).message).toContain('keeps running on host host-a');
    expect(await where('kill-1')).toEqual({ 'host-a': 'running' });
    expect(await exists(join(lab.stateDir, 'hosts', 'host-b', 'kill-1'))).toBe(false);
    expect(await engine.locate('kill-1')).toMatchObject({ hostId: 'host-a', running: true, migrating: false });
    expect((await record('m-kill-1'))?.state).toBe('failed');
  });

  it('gives up on a migration that does not converge in time, leaving the VM on the source', async () => {
    const busy = vm('slow-1', { memoryDirtyRateMbps: 80 });
    await engine.register([{ vm: busy, hostId: 'host-a', running: true }]);
    const impatient = new QemuEngine({ lab, pollIntervalMs: 25, maxMigrationTimeMs: 1_000 });
    try {
      const outcome = await impatient.migrate(move('m-slow-1', busy, 'host-a', 'host-b', 8)).catch((e: unknown) => e);
      expect(outcome).toMatchObject({ code: 'not-converged', transient: false });
      expect(await where('slow-1')).toEqual({ 'host-a': 'running' });
      expect((await record('m-slow-1'))?.state).toBe('failed');
    } finally {
      await impatient.close();
    }
  });

  it('reconciles a migration whose worker died mid-copy: QEMU finishes it, locate settles it, a retry returns it', async () => {
    const guest = vm('crash-1', { memoryDirtyRateMbps: 8 });
    await engine.register([{ vm: guest, hostId: 'host-a', running: true }]);
    const request = move('m-crash-1', guest, 'host-a', 'host-b', 80); // about 3 s of copying
    const dying = new QemuEngine({ lab, pollIntervalMs: 25 });
    const outcome = await dying
      .migrate(request, {
        onProgress: (p) => {
          if (p.phase === 'precopy' && p.transferredBytes > 0) void dying.close(); // the worker "dies"
        },
      })
      .catch((e: unknown) => e);
    expect(outcome).toMatchObject({ code: 'closed', transient: true });

    const restarted = new QemuEngine({ lab, pollIntervalMs: 25 });
    try {
      expect(await restarted.locate('crash-1')).toMatchObject({ hostId: 'host-a', migrating: true });
      expect((await restarted.precheck(move('m-crash-2', guest, 'host-a', 'host-c'))).ok).toBe(false);
      let location = await restarted.locate('crash-1');
      for (let i = 0; i < 200 && location.migrating; i++) {
        await sleep(100);
        location = await restarted.locate('crash-1');
      }
      expect(location).toEqual({ hostId: 'host-b', running: true, migrating: false, datastoreId: 'ds-a' });
      expect(await where('crash-1')).toEqual({ 'host-b': 'running' }); // the postmigrate source was cleaned up
      const settled = await record('m-crash-1');
      expect(settled?.state).toBe('completed');
      expect(settled?.result).toMatchObject({ hostId: 'host-b', macPreserved: true, networkNotified: true });
      expect(settled?.result?.transferredBytes).toBeGreaterThan(30 * 1024 * 1024);
      expect(await restarted.migrate(request)).toEqual(settled?.result);
    } finally {
      await restarted.close();
    }
  });

  it('relocates a running VM’s disk to another datastore with the block mirror (Storage vMotion)', async () => {
    const guest = vm('disk-1');
    await engine.register([{ vm: guest, hostId: 'host-a', running: true }]);
    const [before] = await lab.instances('disk-1');
    const oldDisk = join(lab.stateDir, 'datastores', 'ds-a', 'disk-1.qcow2');
    const newDisk = join(lab.stateDir, 'datastores', 'ds-b', 'disk-1.qcow2');
    const request: MigrationRequest = {
      ...move('m-disk-1', guest, 'host-a', 'host-a'),
      kind: 'storage',
      sourceDatastoreId: 'ds-a',
      targetDatastoreId: 'ds-b',
    };
    expect(await engine.precheck(request)).toEqual({ ok: true });
    const phases = new Set<MigrationPhase>();
    const result = await engine.migrate(request, { onProgress: (p) => void phases.add(p.phase) });

    expect(result).toMatchObject({ hostId: 'host-a', datastoreId: 'ds-b', macPreserved: true, downtimeMs: 0 });
    expect(result.transferredBytes).toBe(32 * 1024 * 1024);
    expect([...phases]).toEqual(['mirror', 'cleanup']);
    const [after] = await lab.instances('disk-1');
    expect(after).toMatchObject({ hostId: 'host-a', pid: before.pid });
    const disks = await lab.withProbe(after, (c) => c.execute<{ inserted?: { file: string } }[]>('query-block'));
    expect(disks.map((d) => d.inserted?.file)).toEqual([newDisk]);
    expect(await exists(oldDisk)).toBe(false);
    expect((await lab.probe(after)).status).toBe('running');
    expect(await engine.locate('disk-1')).toMatchObject({ hostId: 'host-a', datastoreId: 'ds-b' });
    expect(await engine.migrate(request)).toEqual(result);

    // The next live migration starts its destination on the disk's new place.
    await engine.migrate(move('m-disk-2', guest, 'host-a', 'host-b'));
    const [moved] = await lab.instances('disk-1');
    const movedDisks = await lab.withProbe(moved, (c) => c.execute<{ inserted?: { file: string } }[]>('query-block'));
    expect(moved.hostId).toBe('host-b');
    expect(movedDisks.map((d) => d.inserted?.file)).toEqual([newDisk]);
  });

  describe('HA restart', () => {
    const restart = (migrationId: string, guest: EngineVm, failedHost: string, target: string) => ({
      migrationId,
      vm: guest,
      failedHost: { id: failedHost },
      target: { id: target },
    });

    it('fences the failed host and boots the guest from its shared disk on the target, once', async () => {
      const guest = vm('ha-1');
      await engine.register([{ vm: guest, hostId: 'host-a', running: true }]);
      const [before] = await lab.instances('ha-1');
      const diskBefore = await lab.withProbe(before, (c) => c.execute<{ inserted?: { file: string } }[]>('query-block'));
      // host-a hangs (its QEMU stopped, not gone): the restart must not leave a second writer of the disk.
      await lab.withProbe(before, (c) => c.execute('stop'));

      const result = await engine.restart(restart('r-ha-1', guest, 'host-a', 'host-c'));
      expect(result).toMatchObject({ hostId: 'host-c', running: true });
      expect(result.bootTimeMs).toBeGreaterThan(0);
      expect(await where('ha-1')).toEqual({ 'host-c': 'running' });
      const [after] = await lab.instances('ha-1');
      const diskAfter = await lab.withProbe(after, (c) => c.execute<{ inserted?: { file: string } }[]>('query-block'));
      expect(diskAfter.map((d) => d.inserted?.file)).toEqual(diskBefore.map((d) => d.inserted?.file));
      expect(await engine.locate('ha-1')).toMatchObject({ hostId: 'host-c', running: true });

      // The same restart again answers from its record; another one of the same VM is refused once it runs on a third host.
      expect(await engine.restart(restart('r-ha-1', guest, 'host-a', 'host-c'))).toEqual(result);
      const [again] = await lab.instances('ha-1');
      expect(again.pid).toBe(after.pid);
      await expect(engine.restart(restart('r-ha-2', guest, 'host-a', 'host-b'))).rejects.toMatchObject({ code: 'vm-not-on-source', transient: false });
      expect(await where('ha-1')).toEqual({ 'host-c': 'running' });
      await expect(engine.restart(restart('r-ha-3', guest, 'host-c', 'host-c'))).rejects.toMatchObject({ code: 'invalid-request' });
    });
  });

  it('refuses bad requests with the field and the reason', async () => {
    const guest = vm('web-1');
    await expect(engine.migrate(move('m-bad-1', guest, 'host-b', 'host-b'))).rejects.toMatchObject({ code: 'invalid-request', message: expect.stringContaining('target.id') });
    await expect(engine.migrate({ ...move('m-bad-2', guest, 'host-b', 'host-a'), kind: 'storage' })).rejects.toMatchObject({
      message: expect.stringContaining('targetDatastoreId'),
    });
    expect(await engine.precheck({ ...move('m-bad-3', guest, 'host-a', 'host-b'), downtimeLimitMs: -1 })).toMatchObject({
      ok: false,
      reason: expect.stringContaining('downtimeLimitMs'),
    });
    // migrate() registers a VM the lab does not know on the request's source: precheck lets it through.
    expect(await engine.precheck(move('m-ghost', vm('ghost'), 'host-a', 'host-b'))).toEqual({ ok: true });
  });
});
