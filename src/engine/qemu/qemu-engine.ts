import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { unlink } from 'node:fs/promises';
import {
  MigrationCancelledError,
  MigrationEngineError,
  type MigrateOptions,
  type MigrationEngine,
  type MigrationProgress,
  type MigrationRequest,
  type MigrationResult,
  type PrecheckResult,
  type VmLocation,
  type VmPlacement,
} from '../migration-engine.js';
import { MigrationRecords, type MigrationRecord, type QemuFigures } from './migration-records.js';
import { sleep } from './processes.js';
import { ACTIVE_MIGRATION_STATUSES, DISK_DEVICE, GuestStartError, QemuLab, type GuestInstance, type GuestProbe, type LabVm, type QemuLabOptions } from './qemu-lab.js';
import { QmpClient, QmpConnectionError, type QmpEvent } from './qmp-client.js';
import { abandonOwner, isOwnerAlive, lockHolder, newOwner, readLockInfo, VmLock, type LockOwner } from './vm-lock.js';

export interface QemuEngineOptions extends QemuLabOptions {
  /** The lab to drive; by default one is made from the lab options (`stateDir`, ...). */
  lab?: QemuLab;
  /** How often `query-migrate` / `query-block-jobs` are polled for progress (default 100 ms). */
  pollIntervalMs?: number;
  /** A migration still not done after this is cancelled and fails for good (default 10 minutes). */
  maxMigrationTimeMs?: number;
  /** A host's migration link when it does not say (default 10,000 Mb/s). */
  defaultBandwidthMbps?: number;
  /** Let QEMU slow a guest whose memory changes faster than the link copies it (default true). */
  autoConverge?: boolean;
}

interface QueryMigrate {
  status?: string;
  'total-time'?: number;
  downtime?: number;
  'cpu-throttle-percentage'?: number;
  'error-desc'?: string;
  ram?: { transferred?: number; remaining?: number; 'dirty-sync-count'?: number };
}

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

/** A migration run: the caller's options plus an abort that also fires when progress reporting fails. */
interface Run {
  request: MigrationRequest;
  owner: LockOwner;
  signal: AbortSignal;
  report(progress: MigrationProgress): Promise<void>;
  /** Why the run was aborted when the caller did not ask for it (a failing progress callback). */
  failure(): unknown;
  /** The monitors this run holds; closed when it ends. */
  clients: QmpClient[];
}

const MIRROR_JOB = 'ballast-mirror';
const NIC_PATH = '/machine/peripheral/net0';
const SWITCHOVER_TIMEOUT_MS = 5_000;
const CANCEL_TIMEOUT_MS = 10_000;
const START_ATTEMPTS = 3;
const MAX_DOWNTIME_LIMIT_MS = 2_000_000;

/**
 * The `qemu` migration engine: real live migrations of the QEMU lab's guests, driven over QMP.
 * A compute migration starts the destination with `-incoming` on a loopback port, lets QEMU
 * pre-copy the memory, checks the destination runs with the same MAC, has it announce itself
 * (RARP) and quits the source. A storage migration mirrors the running guest's disk to a new image
 * on the target datastore and switches the guest to it. Everything the engine needs to pick up
 * after a crash is on disk in the lab, so a new engine (a restarted worker) sees what happened.
 */
export class QemuEngine implements MigrationEngine {
  readonly name = 'qemu' as const;
  readonly lab: QemuLab;
  private readonly records: MigrationRecords;
  private readonly pollIntervalMs: number;
  private readonly maxMigrationTimeMs: number;
  private readonly defaultBandwidthMbps: number;
  private readonly autoConverge: boolean;
  private readonly inFlight = new Map<string, Promise<MigrationResult>>();
  private readonly clients = new Set<QmpClient>();
  private readonly owners = new Set<LockOwner>();
  private closed = false;

  constructor(options: QemuEngineOptions = {}) {
    this.lab = options.lab ?? new QemuLab(options);
    this.records = new MigrationRecords(this.lab.migrationsDir);
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    this.maxMigrationTimeMs = options.maxMigrationTimeMs ?? 10 * 60_000;
    this.defaultBandwidthMbps = options.defaultBandwidthMbps ?? 10_000;
    this.autoConverge = options.autoConverge ?? true;
  }

  async register(placements: VmPlacement[]): Promise<void> {
    this.assertOpen();
    await this.lab.register(placements);
  }

  async precheck(request: MigrationRequest): Promise<PrecheckResult> {
    this.assertOpen();
    const invalid = requestProblem(request);
    if (invalid) return { ok: false, reason: invalid };
    const vm = await this.lab.vm(request.vm.id);
    if (!vm) return { ok: false, reason: `VM ${request.vm.id} is not in the QEMU lab (not registered)` };
    const holder = await lockHolder(this.lab.vmLockFile(vm.id));
    if (holder && holder.migrationId !== request.migrationId) {
      return { ok: false, reason: `VM ${vm.id} is busy: ${holder.purpose}${holder.migrationId ? ` ${holder.migrationId}` : ''} in progress` };
    }
    const probes = (await this.lab.inspect(vm.id)).filter((p) => p.alive);
    if (probes.some((p) => ACTIVE_MIGRATION_STATUSES.has(p.migrationStatus ?? '') || p.status === 'inmigrate')) {
      return { ok: false, reason: `a live migration of VM ${vm.id} is in progress` };
    }
    const source = probes.find((p) => p.instance.hostId === request.source.id);
    if (source?.status !== 'running') return { ok: false, reason: notRunningReason(vm.id, request.source.id, probes) };
    if (request.kind === 'compute') {
      try {
        await this.lab.ensureHost(request.target.id);
      } catch (error) {
        return { ok: false, reason: `target host ${request.target.id} is not usable: ${(error as Error).message}` };
      }
      return { ok: true };
    }
    if (!vm.diskPath) return { ok: false, reason: `VM ${vm.id} has no disk in the lab (no datastore)` };
    if (source.blockJobs.length > 0) return { ok: false, reason: `VM ${vm.id} has a block job running: ${source.blockJobs.join(', ')}` };
    if (vm.datastoreId === request.targetDatastoreId) return { ok: false, reason: `VM ${vm.id}'s disk is already on datastore ${vm.datastoreId}` };
    if (request.sourceDatastoreId && vm.datastoreId !== request.sourceDatastoreId) {
      return { ok: false, reason: `VM ${vm.id}'s disk is on datastore ${vm.datastoreId}, not ${request.sourceDatastoreId}` };
    }
    try {
      await this.lab.ensureDatastore(request.targetDatastoreId!);
    } catch (error) {
      return { ok: false, reason: `datastore ${request.targetDatastoreId} is not usable: ${(error as Error).message}` };
    }
    return { ok: true };
  }

  /**
   * Runs the migration. A second call for a migration this engine is running joins it (with the
   * first call's progress and signal); a call for one that already completed returns its result
   * without moving anything; a call for one whose owner died picks it up where QEMU is.
   */
  migrate(request: MigrationRequest, options: MigrateOptions = {}): Promise<MigrationResult> {
    try {
      this.assertOpen();
      const invalid = requestProblem(request);
      if (invalid) throw new MigrationEngineError(invalid, false, 'invalid-request');
    } catch (error) {
      return Promise.reject(error);
    }
    const running = this.inFlight.get(request.migrationId);
    if (running) return running;
    const run = this.runMigration(request, options).finally(() => this.inFlight.delete(request.migrationId));
    this.inFlight.set(request.migrationId, run);
    return run;
  }

  async locate(vmId: string): Promise<VmLocation> {
    this.assertOpen();
    const vm = await this.lab.vm(vmId);
    let probes = (await this.lab.inspect(vmId)).filter((p) => p.alive);
    if (!vm && probes.length === 0) return { hostId: null, running: false, migrating: false };
    const holder = await lockHolder(this.lab.vmLockFile(vmId));
    if (!holder && needsSettling(vm, probes)) {
      // Nobody is in charge of the VM and QEMU left more than one copy (or a stale definition):
      // clean up under the VM's lock, so as not to race a migration starting now.
      const deadOwnersMigration = (await readLockInfo(this.lab.vmLockFile(vmId)))?.migrationId;
      const owner = await newOwner();
      const lock = await VmLock.acquire(this.lab.vmLockFile(vmId), owner, 'reconcile');
      if (lock instanceof VmLock) {
        try {
          probes = await this.settle(vmId, deadOwnersMigration);
        } finally {
          await lock.release();
          abandonOwner(owner);
        }
      }
    }
    const migrating = holder?.purpose === 'migration' || probes.some((p) => p.blockJobs.length > 0);
    const sending = probes.find((p) => ACTIVE_MIGRATION_STATUSES.has(p.migrationStatus ?? ''));
    const running = probes.filter((p) => p.status === 'running');
    // Two running copies are never the engine's doing (the target only runs once the source has
    // stopped); report the host the lab last knew and leave both for an operator.
    const current = sending ?? running.find((p) => p.instance.hostId === vm?.hostId) ?? running[0];
    const datastoreId = (current?.diskFile ? this.lab.datastoreOf(current.diskFile) : null) ?? vm?.datastoreId ?? undefined;
    if (current) return { hostId: current.instance.hostId, running: true, migrating: migrating || sending !== undefined, datastoreId };
    const stopped = probes.find((p) => p.status !== 'inmigrate');
    return { hostId: stopped?.instance.hostId ?? vm?.hostId ?? null, running: false, migrating, datastoreId };
  }

  /** Closes this engine's QMP connections. The guests keep running, and so does any migration QEMU is doing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const owner of this.owners) abandonOwner(owner);
    await Promise.all([...this.clients].map((client) => client.close()));
    await Promise.allSettled([...this.inFlight.values()]);
  }

  private assertOpen(): void {
    if (this.closed) throw new MigrationEngineError('the qemu migration engine is closed', true, 'closed');
  }

  private async runMigration(request: MigrationRequest, options: MigrateOptions): Promise<MigrationResult> {
    const previous = await this.records.get(request.migrationId);
    if (previous && (previous.vmId !== request.vm.id || previous.kind !== request.kind)) {
      throw new MigrationEngineError(`migration ${request.migrationId} was a ${previous.kind} migration of VM ${previous.vmId}`, false, 'invalid-request');
    }
    if (previous?.state === 'completed' && previous.result) return previous.result;
    if (previous?.state === 'running' && (await isOwnerAlive(previous.owner))) {
      throw new MigrationEngineError(`migration ${request.migrationId} is being run by process ${previous.owner.pid}`, true, 'in-progress');
    }
    // The port's promise: a VM the engine does not know yet is taken to run on the request's source.
    if (!previous && !(await this.lab.vm(request.vm.id))) {
      await this.lab.register([{ vm: request.vm, hostId: request.source.id, running: true }]);
    }
    const owner = await newOwner();
    this.owners.add(owner);
    const lock = await VmLock.acquire(this.lab.vmLockFile(request.vm.id), owner, 'migration', request.migrationId);
    if (!(lock instanceof VmLock)) {
      abandonOwner(owner);
      this.owners.delete(owner);
      throw new MigrationEngineError(`VM ${request.vm.id} is busy: ${lock.purpose}${lock.migrationId ? ` ${lock.migrationId}` : ''} in progress`, true, 'busy');
    }
    const abort = new AbortController();
    let failure: unknown;
    const forward = () => abort.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', forward, { once: true });
    if (options.signal?.aborted) forward();
    const run: Run = {
      request,
      owner,
      signal: abort.signal,
      report: async (progress) => {
        try {
          await options.onProgress?.(progress);
        } catch (error) {
          failure ??= error;
          abort.abort(error);
        }
      },
      failure: () => failure,
      clients: [],
    };
    try {
      return request.kind === 'compute' ? await this.runCompute(run, previous) : await this.runStorage(run, previous);
    } catch (error) {
      if (this.closed) throw new MigrationEngineError(`the engine closed during migration ${request.migrationId}; QEMU carries on and locate() will tell`, true, 'closed');
      throw error;
    } finally {
      options.signal?.removeEventListener('abort', forward);
      await Promise.all(run.clients.map((client) => client.close()));
      // An engine that closed mid-migration leaves its lock and record as a dead worker would.
      if (!this.closed) {
        await lock.release();
        abandonOwner(owner);
      }
      this.owners.delete(owner);
    }
  }

  // ---- compute migration -------------------------------------------------------------------

  private async runCompute(run: Run, previous: MigrationRecord | null): Promise<MigrationResult> {
    const { request } = run;
    const vm = await this.requireVm(request.vm.id);
    const probes = (await this.lab.inspect(vm.id)).filter((p) => p.alive);
    const source = probes.find((p) => p.instance.hostId === request.source.id);
    const target = probes.find((p) => p.instance.hostId === request.target.id);

    if (target?.status === 'running' && source?.status !== 'running') {
      // QEMU already moved it: this call repeats a migration whose owner died after the switchover.
      if (previous?.state !== 'running') throw new MigrationEngineError(`VM ${vm.id} already runs on host ${request.target.id}`, false, 'already-there');
      const record = await this.records.save({ ...previous, owner: run.owner, state: 'running' });
      return this.finishCompute(run, vm, record, source ?? null, target.instance);
    }
    if (source && ACTIVE_MIGRATION_STATUSES.has(source.migrationStatus ?? '')) {
      if (!previous || !target) throw new MigrationEngineError(`QEMU is still migrating VM ${vm.id} for an earlier migration`, true, 'busy');
      // Its owner died mid-copy; QEMU went on. Adopt the migration where it is.
      const record = await this.records.save({ ...previous, owner: run.owner, state: 'running' });
      return this.followCompute(run, vm, record, source.instance, target.instance);
    }
    if (source?.status !== 'running') {
      throw new MigrationEngineError(notRunningReason(vm.id, request.source.id, probes), false, 'not-on-source');
    }
    if (target) await this.lab.removeInstance(target.instance); // left over from an earlier attempt
    try {
      await this.lab.ensureHost(request.target.id);
    } catch (error) {
      throw new MigrationEngineError(`target host ${request.target.id} is not usable: ${(error as Error).message}`, false, 'target-unusable');
    }

    await run.report({ phase: 'setup', iteration: 0, transferredBytes: 0, remainingBytes: vm.memoryMb * 1024 * 1024 });
    const sourceClient = await this.control(run, source.instance);
    const sourceMac = await sourceClient.execute<string>('qom-get', { path: NIC_PATH, property: 'mac' });
    const record = await this.records.save({
      migrationId: request.migrationId,
      vmId: vm.id,
      kind: 'compute',
      sourceHostId: request.source.id,
      targetHostId: request.target.id,
      state: 'running',
      owner: run.owner,
      startedAt: new Date().toISOString(),
      updatedAt: new Date().toISOString(),
      sourceMac,
    });
    const { instance: destination, port } = await this.startDestination(vm, request.target.id);
    try {
      await sourceClient.execute('migrate-set-capabilities', { capabilities: [{ capability: 'auto-converge', state: this.autoConverge }] });
      await sourceClient.execute('migrate-set-parameters', {
        'downtime-limit': Math.min(Math.max(0, Math.round(request.downtimeLimitMs)), MAX_DOWNTIME_LIMIT_MS),
        'max-bandwidth': this.bandwidthBytesPerSecond(request),
      });
      await sourceClient.execute('migrate', { uri: `tcp:127.0.0.1:${port}` });
    } catch (error) {
      await this.lab.removeInstance(destination);
      await this.records.save({ ...record, state: 'failed', error: (error as Error).message });
      throw asEngineError(error, `migration of VM ${vm.id} could not start`);
    }
    return this.followCompute(run, vm, record, source.instance, destination, sourceClient);
  }

  /** Follows QEMU's migration to its end: progress, cancellation, failure, then the checks and cleanup. */
  private async followCompute(
    run: Run,
    vm: LabVm,
    record: MigrationRecord,
    source: GuestInstance,
    destination: GuestInstance,
    connected?: QmpClient,
  ): Promise<MigrationResult> {
    const sourceClient = connected ?? (await this.control(run, source));
    const deadline = Date.now() + this.maxMigrationTimeMs;
    let maxThrottle = 0;
    let lastReported = '';
    for (;;) {
      let info: QueryMigrate;
      try {
        info = await sourceClient.execute<QueryMigrate>('query-migrate');
      } catch (error) {
        if (this.closed) throw error;
        await this.lab.removeInstance(destination);
        await this.records.save({ ...record, state: 'failed', error: `source lost: ${(error as Error).message}` });
        throw new MigrationEngineError(`the source QEMU of VM ${vm.id} stopped answering during the migration: ${(error as Error).message}`, false, 'source-lost');
      }
      maxThrottle = Math.max(maxThrottle, (info['cpu-throttle-percentage'] ?? 0) / 100);
      const status = info.status ?? 'none';
      if (status === 'completed') {
        const figures = figuresOf(info, maxThrottle);
        record = await this.records.save({ ...record, figures });
        await run.report({ phase: 'switchover', iteration: figures.precopyIterations, transferredBytes: figures.transferredBytes, remainingBytes: 0, throttle: maxThrottle });
        return this.finishCompute(run, vm, record, await this.lab.probe(source), destination, sourceClient);
      }
      if (status === 'failed' || status === 'cancelled' || status === 'none') {
        const reason = info['error-desc'] ?? `QEMU reports the migration ${status}`;
        return this.failCompute(vm, record, source, destination, sourceClient, reason);
      }
      if (run.signal.aborted) return this.cancelCompute(run, vm, record, source, destination, sourceClient);
      if (Date.now() > deadline) {
        const giveUp = new MigrationEngineError(`VM ${vm.id} did not converge within ${this.maxMigrationTimeMs} ms; cancelled, it stays on host ${source.hostId}`, false, 'not-converged');
        return this.cancelCompute(run, vm, record, source, destination, sourceClient, giveUp);
      }
      const progress: MigrationProgress = {
        phase: status === 'setup' ? 'setup' : status === 'active' ? 'precopy' : 'switchover',
        iteration: info.ram?.['dirty-sync-count'] ?? 0,
        transferredBytes: info.ram?.transferred ?? 0,
        remainingBytes: info.ram?.remaining ?? 0,
        throttle: (info['cpu-throttle-percentage'] ?? 0) / 100,
      };
      const key = JSON.stringify(progress);
      if (key !== lastReported) {
        lastReported = key;
        await run.report(progress);
      }
      await pause(this.pollIntervalMs, run.signal);
    }
  }

  /**
   * QEMU completed the switchover: the destination must now run with the source's MAC while the
   * source sits in `postmigrate`. Then the network hears of the move and the source goes away.
   */
  private async finishCompute(
    run: Run,
    vm: LabVm,
    record: MigrationRecord,
    source: GuestProbe | null,
    destination: GuestInstance,
    sourceClient?: QmpClient,
  ): Promise<MigrationResult> {
    const destinationClient = await this.control(run, destination);
    const status = await waitForStatus(destinationClient, 'running', SWITCHOVER_TIMEOUT_MS);
    if (status !== 'running') {
      // The destination never took over: the source still has the whole VM and may carry on.
      if (source?.alive && sourceClient) await sourceClient.execute('cont').catch(() => undefined);
      await this.lab.removeInstance(destination);
      await this.records.save({ ...record, state: 'failed', error: `destination ${status}` });
      throw new MigrationEngineError(`VM ${vm.id} did not start on host ${destination.hostId} after the switchover (${status}); it runs on host ${record.sourceHostId} again`, false, 'destination-failed');
    }
    const sourceStatus = source?.alive ? (sourceClient ? (await sourceClient.execute<{ status: string }>('query-status')).status : source.status) : 'gone';
    if (sourceStatus === 'running') {
      // Both copies running would be two machines with one identity: keep the source, whose state is newer.
      await this.lab.removeInstance(destination);
      await this.records.save({ ...record, state: 'failed', error: 'source still running after the switchover' });
      throw new MigrationEngineError(`VM ${vm.id}'s source on host ${record.sourceHostId} still runs after the switchover; the destination was stopped`, false, 'split');
    }
    const figures = record.figures ?? (source?.alive ? await this.figuresFrom(source.instance, sourceClient) : null);
    const destinationMac = await destinationClient.execute<string>('qom-get', { path: NIC_PATH, property: 'mac' });
    const sourceMac = record.sourceMac ?? vm.macAddress;

    await run.report({ phase: 'announce', iteration: figures?.precopyIterations ?? 0, transferredBytes: figures?.transferredBytes ?? 0, remainingBytes: 0 });
    const networkNotified = await announce(destinationClient);

    await run.report({ phase: 'cleanup', iteration: figures?.precopyIterations ?? 0, transferredBytes: figures?.transferredBytes ?? 0, remainingBytes: 0 });
    if (source) await this.lab.quitInstance(source.instance, sourceClient);
    await this.lab.saveVm({ ...vm, hostId: destination.hostId, running: true });

    const result: MigrationResult = {
      hostId: destination.hostId,
      datastoreId: vm.datastoreId ?? undefined,
      totalTimeMs: figures?.totalTimeMs ?? 0,
      downtimeMs: figures?.downtimeMs ?? 0,
      transferredBytes: figures?.transferredBytes ?? 0,
      precopyIterations: figures?.precopyIterations ?? 0,
      macPreserved: destinationMac === sourceMac,
      networkNotified,
      maxThrottle: figures?.maxThrottle ?? 0,
    };
    await this.records.save({ ...record, figures: figures ?? undefined, state: 'completed', result });
    return result;
  }

  private async cancelCompute(
    run: Run,
    vm: LabVm,
    record: MigrationRecord,
    source: GuestInstance,
    destination: GuestInstance,
    sourceClient: QmpClient,
    reason?: MigrationEngineError,
  ): Promise<MigrationResult> {
    await sourceClient.execute('migrate_cancel');
    const deadline = Date.now() + CANCEL_TIMEOUT_MS;
    let status = 'cancelling';
    while (ACTIVE_MIGRATION_STATUSES.has(status) && Date.now() < deadline) {
      await sleep(20);
      status = (await sourceClient.execute<QueryMigrate>('query-migrate')).status ?? 'none';
    }
    if (status === 'completed') {
      // The switchover won the race with the cancel: the VM has moved, and saying otherwise would lie.
      const info = await sourceClient.execute<QueryMigrate>('query-migrate');
      record = await this.records.save({ ...record, figures: figuresOf(info, 0) });
      return this.finishCompute(run, vm, record, await this.lab.probe(source), destination, sourceClient);
    }
    await this.lab.removeInstance(destination);
    const sourceStatus = (await sourceClient.execute<{ status: string }>('query-status')).status;
    await this.records.save({ ...record, state: reason ? 'failed' : 'cancelled', error: reason?.message ?? `cancelled (source ${sourceStatus})` });
    if (reason) throw reason;
    const failure = run.failure();
    if (failure) throw asEngineError(failure, 'progress reporting failed, migration cancelled');
    throw new MigrationCancelledError(`migration ${record.migrationId} of VM ${vm.id} cancelled; it runs on host ${source.hostId} (${sourceStatus})`);
  }

  private async failCompute(
    vm: LabVm,
    record: MigrationRecord,
    source: GuestInstance,
    destination: GuestInstance,
    sourceClient: QmpClient,
    reason: string,
  ): Promise<never> {
    const destinationAlive = await this.lab.isAlive(destination);
    await this.lab.removeInstance(destination);
    const sourceStatus = (await sourceClient.execute<{ status: string }>('query-status')).status;
    await this.records.save({ ...record, state: 'failed', error: reason });
    const where = sourceStatus === 'running' ? `it keeps running on host ${source.hostId}` : `it is ${sourceStatus} on host ${source.hostId}`;
    throw new MigrationEngineError(
      `migration of VM ${vm.id} to host ${destination.hostId} failed${destinationAlive ? '' : ' (the destination QEMU died)'}: ${reason}; ${where}`,
      false,
      destinationAlive ? 'migration-failed' : 'destination-failed',
    );
  }

  /** Starts the destination on a free loopback port; a port taken meanwhile is retried with another. */
  private async startDestination(vm: LabVm, hostId: string): Promise<{ instance: GuestInstance; port: number }> {
    let lastError: Error | null = null;
    for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
      const port = await freeLoopbackPort();
      try {
        return { instance: await this.lab.start(vm, hostId, { incomingPort: port }), port };
      } catch (error) {
        lastError = error as Error;
        if (!(error instanceof GuestStartError && error.addressInUse)) break;
      }
    }
    const portInUse = lastError instanceof GuestStartError && lastError.addressInUse;
    throw new MigrationEngineError(`the destination of VM ${vm.id} on host ${hostId} did not start: ${lastError?.message}`, true, portInUse ? 'port-in-use' : 'destination-start');
  }

  private bandwidthBytesPerSecond(request: MigrationRequest): number {
    const mbps = Math.min(request.source.migrationBandwidthMbps ?? this.defaultBandwidthMbps, request.target.migrationBandwidthMbps ?? this.defaultBandwidthMbps);
    return Math.max(1, Math.round((mbps * 1_000_000) / 8));
  }

  private async figuresFrom(instance: GuestInstance, client?: QmpClient): Promise<QemuFigures | null> {
    const ask = async (c: QmpClient) => c.execute<QueryMigrate>('query-migrate');
    try {
      const info = client && !client.closed ? await ask(client) : await this.lab.withProbe(instance, ask);
      return info.status === 'completed' ? figuresOf(info, 0) : null;
    } catch {
      return null;
    }
  }

  /**
   * Puts a VM nobody is in charge of back in order and returns its live instances. After an owner
   * that died past the switchover: the VM runs on the target, the source waits in `postmigrate`;
   * tell the network, complete the dead owner's record with QEMU's figures, stop the source. A
   * destination still waiting for a migration nobody sends is stopped. The definition follows
   * what runs (host, disk).
   */
  private async settle(vmId: string, deadOwnersMigration: string | undefined): Promise<GuestProbe[]> {
    const vm = await this.lab.vm(vmId);
    const probes = (await this.lab.inspect(vmId)).filter((p) => p.alive);
    if (probes.some((p) => ACTIVE_MIGRATION_STATUSES.has(p.migrationStatus ?? ''))) return probes;
    const running = probes.filter((p) => p.status === 'running');
    if (running.length > 1) return probes;
    const [current] = running;
    const leftovers = current ? probes.filter((p) => p !== current) : probes.filter((p) => p.status === 'inmigrate');
    const completedSource = current && leftovers.find((p) => p.status === 'postmigrate');
    if (completedSource) await this.completeOrphanedMigration(vm, current, completedSource, deadOwnersMigration);
    for (const leftover of leftovers) await this.lab.removeInstance(leftover.instance);
    if (vm && current) {
      const diskPath = current.diskFile ?? vm.diskPath;
      const datastoreId = diskPath ? (this.lab.datastoreOf(diskPath) ?? vm.datastoreId) : vm.datastoreId;
      if (vm.hostId !== current.instance.hostId || !vm.running || vm.diskPath !== diskPath) {
        await this.lab.saveVm({ ...vm, hostId: current.instance.hostId, running: true, diskPath, datastoreId });
      }
    }
    return probes.filter((p) => !leftovers.includes(p));
  }

  private async completeOrphanedMigration(vm: LabVm | null, current: GuestProbe, source: GuestProbe, migrationId: string | undefined): Promise<void> {
    const figures = await this.figuresFrom(source.instance);
    const networkNotified = await this.lab.withProbe(current.instance, announce).catch(() => false);
    const record = migrationId ? await this.records.get(migrationId) : null;
    if (record?.state !== 'running' || record.targetHostId !== current.instance.hostId) return;
    const mac = await this.lab.withProbe(current.instance, (c) => c.execute<string>('qom-get', { path: NIC_PATH, property: 'mac' })).catch(() => null);
    const known = figures ?? record.figures;
    const result: MigrationResult = {
      hostId: current.instance.hostId,
      datastoreId: vm?.datastoreId ?? undefined,
      totalTimeMs: known?.totalTimeMs ?? 0,
      downtimeMs: known?.downtimeMs ?? 0,
      transferredBytes: known?.transferredBytes ?? 0,
      precopyIterations: known?.precopyIterations ?? 0,
      macPreserved: mac !== null && mac === (record.sourceMac ?? vm?.macAddress),
      networkNotified,
      maxThrottle: known?.maxThrottle ?? 0,
    };
    await this.records.save({ ...record, figures: known, state: 'completed', result });
  }

  // ---- storage migration (Storage vMotion) -------------------------------------------------

  private async runStorage(run: Run, previous: MigrationRecord | null): Promise<MigrationResult> {
    const { request } = run;
    const targetDatastoreId = request.targetDatastoreId!;
    let vm = await this.requireVm(request.vm.id);
    if (!vm.diskPath || !vm.datastoreId) throw new MigrationEngineError(`VM ${vm.id} has no disk in the lab (no datastore)`, false, 'no-disk');
    const probes = (await this.lab.inspect(vm.id)).filter((p) => p.alive);
    const host = probes.find((p) => p.instance.hostId === request.source.id);
    if (host?.status !== 'running') throw new MigrationEngineError(notRunningReason(vm.id, request.source.id, probes), false, 'not-on-source');
    const client = await this.control(run, host.instance);
    const disk = await currentDisk(client);
    const targetPath = this.lab.diskPathFor(vm.id, targetDatastoreId);

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
      await this.lab.saveVm(vm);
      const result = previous.result ?? storageResult(vm, request.source.id, previous.figures?.transferredBytes ?? 0, previous.figures?.totalTimeMs ?? 0, true);
      await this.records.save({ ...previous, owner: run.owner, state: 'completed', result });
      return result;
    }
    if (disk.file !== vm.diskPath) throw new MigrationEngineError(`VM ${vm.id}'s guest uses ${disk.file}, not its lab disk ${vm.diskPath}`, false, 'disk-mismatch');
    if (request.sourceDatastoreId && vm.datastoreId !== request.sourceDatastoreId) {
      throw new MigrationEngineError(`VM ${vm.id}'s disk is on datastore ${vm.datastoreId}, not ${request.sourceDatastoreId}`, false, 'not-on-source');
    }
    const started = Date.now();
    const record = await this.records.save({
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
      await this.lab.ensureDatastore(targetDatastoreId);
      await unlink(targetPath).catch(() => undefined);
      await this.lab.createImage(targetPath, disk.size);
      targetNode = `disk-${randomBytes(4).toString('hex')}`;
      await client.execute('blockdev-add', { driver: 'qcow2', 'node-name': targetNode, file: { driver: 'file', filename: targetPath } });
      await client.execute('blockdev-mirror', { 'job-id': MIRROR_JOB, device: disk.node, target: targetNode, sync: 'full' });

      const copied = await this.followMirror(run, client, events);
      if (copied === 'cancelled') {
        await waitForJobGone(client, MIRROR_JOB, CANCEL_TIMEOUT_MS);
        await client.execute('blockdev-del', { 'node-name': targetNode });
        await unlink(targetPath).catch(() => undefined);
        await this.records.save({ ...record, state: 'cancelled' });
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
      await this.lab.saveVm(vm);
      const mac = await client.execute<string>('qom-get', { path: NIC_PATH, property: 'mac' });
      const totalTimeMs = Date.now() - started;
      const result = storageResult(vm, request.source.id, copied.bytes, totalTimeMs, mac === vm.macAddress);
      await this.records.save({ ...record, state: 'completed', figures: { totalTimeMs, downtimeMs: 0, transferredBytes: copied.bytes, precopyIterations: 1, maxThrottle: 0 }, result });
      return result;
    } catch (error) {
      if (this.closed || error instanceof MigrationCancelledError) throw error;
      if (targetNode !== null) {
        await client.execute('block-job-cancel', { device: MIRROR_JOB, force: true }).catch(() => undefined);
        await waitForJobGone(client, MIRROR_JOB, CANCEL_TIMEOUT_MS).catch(() => undefined);
        await client.execute('blockdev-del', { 'node-name': targetNode }).catch(() => undefined);
        await unlink(targetPath).catch(() => undefined);
      }
      await this.records.save({ ...record, state: 'failed', error: (error as Error).message });
      throw asEngineError(error, `storage migration of VM ${vm.id} failed; its disk stays on datastore ${vm.datastoreId}`);
    } finally {
      stopListening();
    }
  }

  /** Waits until the mirror is in sync (ready), reporting progress; cancels it when the run is aborted. */
  private async followMirror(run: Run, client: QmpClient, events: QmpEvent[]): Promise<{ bytes: number } | 'cancelled'> {
    const deadline = Date.now() + this.maxMigrationTimeMs;
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
      if (Date.now() > deadline) throw new Error(`the mirror was not in sync within ${this.maxMigrationTimeMs} ms`);
      await pause(this.pollIntervalMs, run.signal);
    }
  }

  /** Removes block nodes left (by an owner that died) on an image we are about to recreate. */
  private async dropNodesOn(client: QmpClient, path: string): Promise<void> {
    const nodes = await client.execute<{ 'node-name': string; file: string; drv: string }[]>('query-named-block-nodes', { flat: true });
    for (const node of nodes.filter((n) => n.file === path && n.drv === 'qcow2')) {
      await client.execute('blockdev-del', { 'node-name': node['node-name'] }).catch(() => undefined);
    }
  }

  // ---- helpers -----------------------------------------------------------------------------

  private async requireVm(vmId: string): Promise<LabVm> {
    const vm = await this.lab.vm(vmId);
    if (!vm) throw new MigrationEngineError(`VM ${vmId} is not in the QEMU lab (not registered)`, false, 'unknown-vm');
    return vm;
  }

  /** The control monitor of an instance, tracked so that close() can end it. */
  private async control(run: Run, instance: GuestInstance): Promise<QmpClient> {
    let client: QmpClient;
    try {
      client = await this.lab.connectControl(instance);
    } catch (error) {
      throw new MigrationEngineError(`cannot reach QEMU of VM ${instance.vmId} on host ${instance.hostId}: ${(error as Error).message}`, true, 'unreachable');
    }
    this.clients.add(client);
    run.clients.push(client);
    void client.done.then(() => this.clients.delete(client));
    if (this.closed) await client.close();
    return client;
  }
}

function requestProblem(request: MigrationRequest): string | null {
  if (!request?.migrationId) return 'migrationId must not be empty';
  if (!request.vm?.id) return 'vm.id must not be empty';
  if (!request.source?.id) return 'source.id must not be empty';
  if (request.kind !== 'compute' && request.kind !== 'storage') return `kind must be compute or storage, not ${String(request.kind)}`;
  if (!(request.downtimeLimitMs >= 0)) return `downtimeLimitMs must be 0 or more, not ${String(request.downtimeLimitMs)}`;
  if (request.kind === 'compute') {
    if (!request.target?.id) return 'target.id must not be empty';
    if (request.target.id === request.source.id) return `target.id must differ from source.id (${request.source.id})`;
  } else if (!request.targetDatastoreId) {
    return 'targetDatastoreId is required for a storage migration';
  }
  for (const [field, host] of [['source', request.source], ['target', request.target]] as const) {
    const mbps = host?.migrationBandwidthMbps;
    if (mbps !== undefined && !(mbps > 0)) return `${field}.migrationBandwidthMbps must be positive, not ${mbps}`;
  }
  return null;
}

/** Whether QEMU left this VM in a state that settle() would change. */
function needsSettling(vm: LabVm | null, probes: GuestProbe[]): boolean {
  if (probes.some((p) => ACTIVE_MIGRATION_STATUSES.has(p.migrationStatus ?? ''))) return false;
  const running = probes.filter((p) => p.status === 'running');
  if (running.length > 1) return false;
  if (running.length === 0) return probes.some((p) => p.status === 'inmigrate');
  const [current] = running;
  return probes.length > 1 || (vm !== null && (vm.hostId !== current.instance.hostId || !vm.running || (current.diskFile !== null && vm.diskPath !== current.diskFile)));
}

function notRunningReason(vmId: string, hostId: string, probes: GuestProbe[]): string {
  const here = probes.find((p) => p.instance.hostId === hostId);
  if (here) return `VM ${vmId} is ${here.status ?? 'not answering'} on host ${hostId}, not running`;
  const elsewhere = probes.find((p) => p.status === 'running');
  return elsewhere ? `VM ${vmId} runs on host ${elsewhere.instance.hostId}, not on ${hostId}` : `VM ${vmId} does not run on host ${hostId} (nor anywhere)`;
}

function figuresOf(info: QueryMigrate, maxThrottle: number): QemuFigures {
  return {
    totalTimeMs: info['total-time'] ?? 0,
    downtimeMs: info.downtime ?? 0,
    transferredBytes: info.ram?.transferred ?? 0,
    precopyIterations: info.ram?.['dirty-sync-count'] ?? 0,
    maxThrottle,
  };
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

async function waitForStatus(client: QmpClient, wanted: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let status: string;
    try {
      status = (await client.execute<{ status: string }>('query-status')).status;
    } catch (error) {
      return `unreachable (${(error as Error).message})`;
    }
    if (status === wanted || status !== 'inmigrate' || Date.now() > deadline) return status;
    await sleep(10);
  }
}

/** The RARP step: the guest's NIC tells the network (switches learn where its MAC now lives). */
async function announce(client: QmpClient): Promise<boolean> {
  try {
    await client.execute('announce-self', { initial: 50, max: 550, rounds: 5, step: 100 });
    return true;
  } catch {
    return false;
  }
}

function asEngineError(error: unknown, context: string): MigrationEngineError {
  if (error instanceof MigrationEngineError) return error;
  const transient = error instanceof QmpConnectionError;
  return new MigrationEngineError(`${context}: ${(error as Error)?.message ?? String(error)}`, transient, transient ? 'unreachable' : 'failed');
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
