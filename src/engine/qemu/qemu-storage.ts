import { randomBytes } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { MigrationCancelledError, MigrationEngineError, type MigrationResult } from '../migration-engine.js';
import { asEngineError, CANCEL_TIMEOUT_MS, type EngineContext, NIC_PATH, notRunningReason, pause, type Run } from './engine-context.js';
import type { MigrationRecord } from './migration-records.js';
import { sleep } from './processes.js';
import { DISK_DEVICE, type LabVm } from './qemu-lab.js';
import type { QmpClient, QmpEvent } from './qmp-client.js';

interface BlockInfo {
  qdev?: string;
  inserted?: { 'node-name': string; file: string; image: { 'virtual-size': number } };
}

interface BlockJobInfo {
  device: string;
  len: number;
  offset: number;
  ready: boolean;
  status: string;
}

const MIRROR_JOB = 'ballast-mirror';

/**
 * Storage vMotion: QEMU's block mirror copies the running guest's disk to a new image on the target
 * datastore, and once in sync the guest switches to it without a pause.
 */
export class StorageMigrations {
  constructor(private readonly context: EngineContext) {}

  async run(run: Run, previous: MigrationRecord | null): Promise<MigrationResult> {
    const { request } = run;
    const targetDatastoreId = request.targetDatastoreId!;
    let vm = await this.context.requireVm(request.vm.id);
    if (!vm.diskPath || !vm.datastoreId) throw new MigrationEngineError(`VM ${vm.id} has no disk in the lab (no datastore)`, false, 'no-disk');
    const probes = (await this.context.lab.inspect(vm.id)).filter((p) => p.alive);
    const host = probes.find((p) => p.instance.hostId === request.source.id);
    if (host?.status !== 'running') throw new MigrationEngineError(notRunningReason(vm.id, request.source.id, probes), false, 'not-on-source');
    const client = await this.context.control(run, host.instance);
    const disk = await currentDisk(client);
    const targetPath = this.context.lab.diskPathFor(vm.id, targetDatastoreId);

    if (disk.file === targetPath) {
      // The guest already uses the target image: a repeated call, or an owner that died after the switch.
      if (previous?.state !== 'running' && previous?.state !== 'completed') {
        throw new MigrationEngineError(`VM ${vm.id}'s disk is already on datastore ${targetDatastoreId}`, false, 'already-there');
      }
      if (vm.diskPath && vm.diskPath !== targetPath) {
        await this.dropNodesOn(client, vm.diskPath);
        await unlink(vm.diskPath).catch(() => undefined);
      }
      vm = { ...vm, datastoreId: targetDatastoreId, diskPath: targetPath };
      await this.context.lab.saveVm(vm);
      const result = previous.result ?? storageResult(vm, request.source.id, previous.figures?.transferredBytes ?? 0, previous.figures?.totalTimeMs ?? 0, true);
      await this.context.records.save({ ...previous, owner: run.owner, state: 'completed', result });
      return result;
    }
    if (disk.file !== vm.diskPath) throw new MigrationEngineError(`VM ${vm.id}'s guest uses ${disk.file}, not its lab disk ${vm.diskPath}`, false, 'disk-mismatch');
    if (request.sourceDatastoreId && vm.datastoreId !== request.sourceDatastoreId) {
      throw new MigrationEngineError(`VM ${vm.id}'s disk is on datastore ${vm.datastoreId}, not ${request.sourceDatastoreId}`, false, 'not-on-source');
    }
    const started = Date.now();
    const record = await this.context.records.save({
      migrationId: request.migrationId,
      vmId: vm.id,
      kind: 'storage',
      sourceHostId: request.source.id,
      targetHostId: request.source.id,
      sourceDatastoreId: vm.datastoreId,
      targetDatastoreId,
      state: 'running',
      owner: run.owner,
      startedAt: previous?.startedAt ?? new Date(started).toISOString(),
      updatedAt: new Date().toISOString(),
    });
    const events: QmpEvent[] = [];
    const stopListening = client.onEvent((event) => events.push(event));
    let targetNode: string | null = null;
    try {
      // A mirror left by an owner that died is dropped: starting over is simpler than adopting it.
      if ((await client.execute<BlockJobInfo[]>('query-block-jobs')).some((job) => job.device === MIRROR_JOB)) {
        await client.execute('block-job-cancel', { device: MIRROR_JOB, force: true });
        await waitForJobGone(client, MIRROR_JOB, CANCEL_TIMEOUT_MS);
      }
      await this.dropNodesOn(client, targetPath);
      await this.context.lab.ensureDatastore(targetDatastoreId);
      await unlink(targetPath).catch(() => undefined);
      await this.context.lab.createImage(targetPath, disk.size);
      targetNode = `disk-${randomBytes(4).toString('hex')}`;
      await client.execute('blockdev-add', { driver: 'qcow2', 'node-name': targetNode, file: { driver: 'file', filename: targetPath } });
      await client.execute('blockdev-mirror', { 'job-id': MIRROR_JOB, device: disk.node, target: targetNode, sync: 'full' });

      const copied = await this.followMirror(run, client, events);
      if (copied === 'cancelled') {
        await waitForJobGone(client, MIRROR_JOB, CANCEL_TIMEOUT_MS);
        await client.execute('blockdev-del', { 'node-name': targetNode });
        await unlink(targetPath).catch(() => undefined);
        await this.context.records.save({ ...record, state: 'cancelled' });
        const failure = run.failure();
        if (failure) throw asEngineError(failure, 'progress reporting failed, storage migration cancelled');
        throw new MigrationCancelledError(`storage migration ${request.migrationId} of VM ${vm.id} cancelled; its disk stays on datastore ${vm.datastoreId}`);
      }
      await client.execute('block-job-complete', { device: MIRROR_JOB });
      await waitForJobGone(client, MIRROR_JOB, CANCEL_TIMEOUT_MS);
      const completed = events.find((e) => e.event === 'BLOCK_JOB_COMPLETED' && e.data?.device === MIRROR_JOB);
      if (completed?.data?.error) throw new Error(`the mirror failed: ${String(completed.data.error)}`);
      const now = await currentDisk(client);
      if (now.file !== targetPath) throw new Error(`after the mirror the guest still uses ${now.file}`);
      targetNode = null; // in use by the guest from now on

      await run.report({ phase: 'cleanup', iteration: 1, transferredBytes: copied.bytes, remainingBytes: 0 });
      await client.execute('blockdev-del', { 'node-name': disk.node }).catch(() => undefined);
      if (disk.file !== targetPath) await unlink(disk.file).catch(() => undefined);
      vm = { ...vm, datastoreId: targetDatastoreId, diskPath: targetPath };
      await this.context.lab.saveVm(vm);
      const mac = await client.execute<string>('qom-get', { path: NIC_PATH, property: 'mac' });
      const totalTimeMs = Date.now() - started;
      const result = storageResult(vm, request.source.id, copied.bytes, totalTimeMs, mac === vm.macAddress);
      await this.context.records.save({ ...record, state: 'completed', figures: { totalTimeMs, downtimeMs: 0, transferredBytes: copied.bytes, precopyIterations: 1, maxThrottle: 0 }, result });
      return result;
    } catch (error) {
      if (this.context.closed || error instanceof MigrationCancelledError) throw error;
      if (targetNode !== null) {
        await client.execute('block-job-cancel', { device: MIRROR_JOB, force: true }).catch(() => undefined);
        await waitForJobGone(client, MIRROR_JOB, CANCEL_TIMEOUT_MS).catch(() => undefined);
        await client.execute('blockdev-del', { 'node-name': targetNode }).catch(() => undefined);
        await unlink(targetPath).catch(() => undefined);
      }
      await this.context.records.save({ ...record, state: 'failed', error: (error as Error).message });
      throw asEngineError(error, `storage migration of VM ${vm.id} failed; its disk stays on datastore ${vm.datastoreId}`);
    } finally {
      stopListening();
    }
  }

  /** Waits until the mirror is in sync (ready), reporting progress; cancels it when the run is aborted. */
  private async followMirror(run: Run, client: QmpClient, events: QmpEvent[]): Promise<{ bytes: number } | 'cancelled'> {
    const deadline = Date.now() + this.context.maxMigrationTimeMs;
    for (;;) {
      const job = (await client.execute<BlockJobInfo[]>('query-block-jobs')).find((j) => j.device === MIRROR_JOB);
      if (!job) {
        const ended = events.find((e) => e.event === 'BLOCK_JOB_COMPLETED' || e.event === 'BLOCK_JOB_CANCELLED');
        throw new Error(`the mirror ended before it was in sync: ${String(ended?.data?.error ?? ended?.event ?? 'no event')}`);
      }
      await run.report({ phase: 'mirror', iteration: 1, transferredBytes: job.offset, remainingBytes: Math.max(0, job.len - job.offset) });
      if (job.ready) return { bytes: job.offset };
      if (run.signal.aborted) {
        await client.execute('block-job-cancel', { device: MIRROR_JOB });
        return 'cancelled';
      }
      if (Date.now() > deadline) throw new Error(`the mirror was not in sync within ${this.context.maxMigrationTimeMs} ms`);
      await pause(this.context.pollIntervalMs, run.signal);
    }
  }

  /** Removes block nodes left (by an owner that died) on an image we are about to recreate. */
  private async dropNodesOn(client: QmpClient, path: string): Promise<void> {
    const nodes = await client.execute<{ 'node-name': string; file: string; drv: string }[]>('query-named-block-nodes', { flat: true });
    for (const node of nodes.filter((n) => n.file === path && n.drv === 'qcow2')) {
      await client.execute('blockdev-del', { 'node-name': node['node-name'] }).catch(() => undefined);
    }
  }
}

function storageResult(vm: LabVm, hostId: string, bytes: number, totalTimeMs: number, macPreserved: boolean): MigrationResult {
  // The guest never moved or paused: nothing to tell the network, no switchover downtime.
  return { hostId, datastoreId: vm.datastoreId ?? undefined, totalTimeMs, downtimeMs: 0, transferredBytes: bytes, precopyIterations: 1, macPreserved, networkNotified: false, maxThrottle: 0 };
}

async function currentDisk(client: QmpClient): Promise<{ node: string; file: string; size: number }> {
  const blocks = await client.execute<BlockInfo[]>('query-block');
  const disk = blocks.find((b) => b.qdev?.includes(`/${DISK_DEVICE}/`) && b.inserted);
  if (!disk?.inserted) throw new Error(`the guest has no ${DISK_DEVICE} disk`);
  return { node: disk.inserted['node-name'], file: disk.inserted.file, size: disk.inserted.image['virtual-size'] };
}

async function waitForJobGone(client: QmpClient, jobId: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await client.execute<BlockJobInfo[]>('query-block-jobs')).some((job) => job.device === jobId)) {
    if (Date.now() > deadline) throw new Error(`block job ${jobId} did not end within ${timeoutMs} ms`);
    await sleep(20);
  }
}
