import {
  MigrationEngineError,
  type MigrateOptions,
  type MigrationEngine,
  type MigrationRequest,
  type MigrationResult,
  type PrecheckResult,
  type RestartRequest,
  type RestartResult,
  type VmLocation,
  type VmPlacement,
  requestProblem,
  restartRequestProblem,
} from '../migration-engine.js';
import { type EngineContext, notRunningReason, type Run } from './engine-context.js';
import { MigrationRecords } from './migration-records.js';
import { ComputeMigrations } from './qemu-compute.js';
import { ACTIVE_MIGRATION_STATUSES, GuestStartError, QemuLab, type GuestInstance, type LabVm, type QemuLabOptions } from './qemu-lab.js';
import { Recovery } from './qemu-recovery.js';
import { StorageMigrations } from './qemu-storage.js';
import type { QmpClient } from './qmp-client.js';
import { abandonOwner, isOwnerAlive, lockHolder, newOwner, VmLock, type LockOwner } from './vm-lock.js';

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

/**
 * The `qemu` migration engine: real live migrations of the QEMU lab's guests, driven over QMP.
 * A compute migration starts the destination with `-incoming` on a loopback port, lets QEMU
 * pre-copy the memory, checks the destination runs with the same MAC, has it announce itself
 * (RARP) and quits the source. A storage migration mirrors the running guest's disk to a new image
 * on the target datastore and switches the guest to it. Everything the engine needs to pick up
 * after a crash is on disk in the lab, so a new engine (a restarted worker) sees what happened.
 *
 * This file holds the port and a run's bookkeeping (the VM's lock, the owner, the monitors);
 * qemu-compute.ts, qemu-storage.ts and qemu-recovery.ts hold the three kinds of work.
 */
export class QemuEngine implements MigrationEngine, EngineContext {
  readonly name = 'qemu' as const;
  readonly lab: QemuLab;
  readonly records: MigrationRecords;
  readonly pollIntervalMs: number;
  readonly maxMigrationTimeMs: number;
  private readonly compute: ComputeMigrations;
  private readonly storage: StorageMigrations;
  private readonly recovery: Recovery;
  private readonly inFlight = new Map<string, Promise<MigrationResult>>();
  private readonly clients = new Set<QmpClient>();
  private readonly owners = new Set<LockOwner>();
  private isClosed = false;

  constructor(options: QemuEngineOptions = {}) {
    this.lab = options.lab ?? new QemuLab(options);
    this.records = new MigrationRecords(this.lab.migrationsDir);
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    this.maxMigrationTimeMs = options.maxMigrationTimeMs ?? 10 * 60_000;
    this.compute = new ComputeMigrations(this, {
      defaultBandwidthMbps: options.defaultBandwidthMbps ?? 10_000,
      autoConverge: options.autoConverge ?? true,
    });
    this.storage = new StorageMigrations(this);
    this.recovery = new Recovery(this);
  }

  get closed(): boolean {
    return this.isClosed;
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
    // As migrate() promises, a VM the lab does not know yet will be registered on the request's source.
    if (!vm) return request.kind === 'compute' ? this.targetProblem(request) : { ok: true };
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
    if (request.kind === 'compute') return this.targetProblem(request);
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

  private async targetProblem(request: MigrationRequest): Promise<PrecheckResult> {
    try {
      await this.lab.ensureHost(request.target.id);
      return { ok: true };
    } catch (error) {
      return { ok: false, reason: `target host ${request.target.id} is not usable: ${(error as Error).message}` };
    }
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

  /**
   * HA restart: the guest boots on the target from its disk on the lab's shared datastore. The
   * failed host is fenced first: a QEMU of the VM still alive there is stopped, so that two guests
   * never write one disk. A repeated call for the same restart answers from its record; a VM that
   * runs on the target already is not started again; one that runs on a third host is refused.
   */
  async restart(request: RestartRequest): Promise<RestartResult> {
    this.assertOpen();
    const invalid = restartRequestProblem(request);
    if (invalid) throw new MigrationEngineError(`invalid restart request: ${invalid}`, false, 'invalid-request');
    const { migrationId, vm: machine, failedHost, target } = request;
    const answered = async () => {
      const record = await this.records.get(migrationId);
      if (record && (record.vmId !== machine.id || record.kind !== 'restart')) {
        throw new MigrationEngineError(`migration ${migrationId} was a ${record.kind} of VM ${record.vmId}`, false, 'invalid-request');
      }
      return record?.state === 'completed' ? (record.restartResult ?? null) : null;
    };
    const earlier = await answered();
    if (earlier) return earlier;
    // A VM the lab does not know yet was defined on the failed host (its disk made on the datastore), not running.
    if (!(await this.lab.vm(machine.id))) await this.lab.register([{ vm: machine, hostId: failedHost.id, running: false }]);
    const owner = await newOwner();
    this.owners.add(owner);
    const lock = await VmLock.acquire(this.lab.vmLockFile(machine.id), owner, 'restart', migrationId);
    if (!(lock instanceof VmLock)) {
      abandonOwner(owner);
      this.owners.delete(owner);
      throw new MigrationEngineError(`VM ${machine.id} is busy: ${lock.purpose}${lock.migrationId ? ` ${lock.migrationId}` : ''} in progress`, true, 'busy');
    }
    try {
      const again = await answered();
      if (again) return again;
      const vm = await this.requireVm(machine.id);
      const alive = (await this.lab.inspect(machine.id)).filter((p) => p.alive);
      const third = alive.find((p) => p.status === 'running' && p.instance.hostId !== failedHost.id && p.instance.hostId !== target.id);
      if (third) throw new MigrationEngineError(`VM ${machine.id} runs on ${third.instance.hostId}, not on the failed host ${failedHost.id}: not started again`, false, 'vm-not-on-source');
      const now = new Date().toISOString();
      const base = { migrationId, vmId: machine.id, kind: 'restart' as const, sourceHostId: failedHost.id, targetHostId: target.id, owner, startedAt: now, updatedAt: now };
      let bootTimeMs = 0;
      if (!alive.some((p) => p.status === 'running' && p.instance.hostId === target.id)) {
        for (const leftover of alive) await this.lab.removeInstance(leftover.instance); // fencing
        await this.records.save({ ...base, state: 'running' });
        const started = Date.now();
        try {
          await this.lab.start({ ...vm, hostId: target.id, running: true }, target.id);
        } catch (error) {
          const message = `VM ${machine.id} did not boot on ${target.id}: ${(error as Error).message}`;
          await this.records.save({ ...base, state: 'failed', error: message });
          throw new MigrationEngineError(message, error instanceof GuestStartError && error.addressInUse, 'boot-failed');
        }
        bootTimeMs = Date.now() - started;
      }
      await this.lab.saveVm({ ...vm, hostId: target.id, running: true });
      const result: RestartResult = { hostId: target.id, running: true, bootTimeMs };
      await this.records.save({ ...base, state: 'completed', restartResult: result });
      return result;
    } finally {
      await lock.release();
      abandonOwner(owner);
      this.owners.delete(owner);
    }
  }

  async locate(vmId: string): Promise<VmLocation> {
    this.assertOpen();
    return this.recovery.locate(vmId);
  }

  /** Closes this engine's QMP connections. The guests keep running, and so does any migration QEMU is doing. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
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
      return request.kind === 'compute' ? await this.compute.run(run, previous) : await this.storage.run(run, previous);
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

  async requireVm(vmId: string): Promise<LabVm> {
    const vm = await this.lab.vm(vmId);
    if (!vm) throw new MigrationEngineError(`VM ${vmId} is not in the QEMU lab (not registered)`, false, 'unknown-vm');
    return vm;
  }

  /** The control monitor of an instance, tracked so that close() can end it. */
  async control(run: Run, instance: GuestInstance): Promise<QmpClient> {
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

