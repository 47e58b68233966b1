import { createServer } from 'node:net';
import { MigrationCancelledError, MigrationEngineError, type MigrationProgress, type MigrationResult } from '../migration-engine.js';
import {
  announce,
  asEngineError,
  CANCEL_TIMEOUT_MS,
  type EngineContext,
  figuresFrom,
  figuresOf,
  NIC_PATH,
  notRunningReason,
  pause,
  type QueryMigrate,
  type Run,
} from './engine-context.js';
import { LinkShares } from './link-shares.js';
import type { MigrationRecord } from './migration-records.js';
import { sleep } from './processes.js';
import { ACTIVE_MIGRATION_STATUSES, GuestStartError, type GuestInstance, type GuestProbe, type LabVm } from './qemu-lab.js';
import type { QmpClient } from './qmp-client.js';

const SWITCHOVER_TIMEOUT_MS = 5_000;
const START_ATTEMPTS = 3;
const MAX_DOWNTIME_LIMIT_MS = 2_000_000;

export interface ComputeOptions {
  /** A host's migration link when it does not say. */
  defaultBandwidthMbps: number;
  /** Let QEMU slow a guest whose memory changes faster than the link copies it. */
  autoConverge: boolean;
}

/**
 * Live migration of a guest's memory to another host: the destination starts with `-incoming` on a
 * loopback port, QEMU pre-copies the memory, the destination must run with the same MAC, it
 * announces itself (RARP) and the source quits. A run whose owner died is adopted where QEMU is.
 */
export class ComputeMigrations {
  /** The links of the migrations this engine is sending, and how to change each one's bandwidth. */
  private readonly links = new LinkShares();
  private readonly bandwidthSetters = new Map<string, (mbps: number) => Promise<unknown>>();

  constructor(
    private readonly context: EngineContext,
    private readonly options: ComputeOptions,
  ) {}

  async run(run: Run, previous: MigrationRecord | null): Promise<MigrationResult> {
    const { request } = run;
    const vm = await this.context.requireVm(request.vm.id);
    const probes = (await this.context.lab.inspect(vm.id)).filter((p) => p.alive);
    const source = probes.find((p) => p.instance.hostId === request.source.id);
    const target = probes.find((p) => p.instance.hostId === request.target.id);

    if (target?.status === 'running' && source?.status !== 'running') {
      // QEMU already moved it: this call repeats a migration whose owner died after the switchover.
      if (previous?.state !== 'running') throw new MigrationEngineError(`VM ${vm.id} already runs on host ${request.target.id}`, false, 'already-there');
      const record = await this.context.records.save({ ...previous, owner: run.owner, state: 'running' });
      return this.finish(run, vm, record, source ?? null, target.instance);
    }
    if (source && ACTIVE_MIGRATION_STATUSES.has(source.migrationStatus ?? '')) {
      if (!previous || !target) throw new MigrationEngineError(`QEMU is still migrating VM ${vm.id} for an earlier migration`, true, 'busy');
      // Its owner died mid-copy; QEMU went on. Adopt the migration where it is.
      const record = await this.context.records.save({ ...previous, owner: run.owner, state: 'running' });
      return this.follow(run, vm, record, source.instance, target.instance);
    }
    if (source?.status !== 'running') {
      throw new MigrationEngineError(notRunningReason(vm.id, request.source.id, probes), false, 'not-on-source');
    }
    if (target) await this.context.lab.removeInstance(target.instance); // left over from an earlier attempt
    try {
      await this.context.lab.ensureHost(request.target.id);
    } catch (error) {
      throw new MigrationEngineError(`target host ${request.target.id} is not usable: ${(error as Error).message}`, false, 'target-unusable');
    }

    await run.report({ phase: 'setup', iteration: 0, transferredBytes: 0, remainingBytes: vm.memoryMb * 1024 * 1024 });
    const sourceClient = await this.context.control(run, source.instance);
    const sourceMac = await sourceClient.execute<string>('qom-get', { path: NIC_PATH, property: 'mac' });
    const record = await this.context.records.save({
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
    let started: MigrationRecord;
    try {
      await sourceClient.execute('migrate-set-capabilities', { capabilities: [{ capability: 'auto-converge', state: this.options.autoConverge }] });
      const share = await this.joinLinks(run, sourceClient);
      await sourceClient.execute('migrate-set-parameters', {
        'downtime-limit': Math.min(Math.max(0, Math.round(request.downtimeLimitMs)), MAX_DOWNTIME_LIMIT_MS),
        'max-bandwidth': bytesPerSecond(share),
      });
      // What QEMU took: the result says which limit the switchover was held to.
      const parameters = await sourceClient.execute<{ 'downtime-limit'?: number }>('query-migrate-parameters');
      started = await this.context.records.save({ ...record, downtimeLimitMs: parameters['downtime-limit'] });
      await sourceClient.execute('migrate', { uri: `tcp:127.0.0.1:${port}` });
    } catch (error) {
      await this.leaveLinks(request.migrationId);
      await this.context.lab.removeInstance(destination);
      await this.context.records.save({ ...record, state: 'failed', error: (error as Error).message });
      throw asEngineError(error, `migration of VM ${vm.id} could not start`);
    }
    return this.follow(run, vm, started, source.instance, destination, sourceClient);
  }

  /**
   * Takes this migration's share of its source's and target's links (it gets QEMU's `max-bandwidth`
   * of its share, in Mb/s as returned) and gives the migrations it now shares a link with theirs.
   */
  private async joinLinks(run: Run, sourceClient: QmpClient): Promise<number> {
    const { migrationId, source, target } = run.request;
    this.bandwidthSetters.set(migrationId, (mbps) => sourceClient.execute('migrate-set-parameters', { 'max-bandwidth': bytesPerSecond(mbps) }));
    const changed = this.links.join(migrationId, {
      sourceHostId: source.id,
      targetHostId: target.id,
      sourceMbps: source.migrationBandwidthMbps ?? this.options.defaultBandwidthMbps,
      targetMbps: target.migrationBandwidthMbps ?? this.options.defaultBandwidthMbps,
    });
    changed.delete(migrationId);
    await this.applyShares(changed);
    return this.links.shareOf(migrationId)!;
  }

  /** The migration no longer sends: the others on its links get their larger shares. */
  private async leaveLinks(migrationId: string): Promise<void> {
    if (!this.bandwidthSetters.delete(migrationId)) return;
    await this.applyShares(this.links.leave(migrationId));
  }

  private async applyShares(shares: Map<string, number>): Promise<void> {
    // A migration that just ended may not take it any more: it needs it no longer.
    await Promise.all([...shares].map(([id, mbps]) => this.bandwidthSetters.get(id)?.(mbps).catch(() => undefined)));
  }

  /** Follows QEMU's migration to its end: progress, cancellation, failure, then the checks and cleanup. */
  private async follow(
    run: Run,
    vm: LabVm,
    record: MigrationRecord,
    source: GuestInstance,
    destination: GuestInstance,
    connected?: QmpClient,
  ): Promise<MigrationResult> {
    const sourceClient = connected ?? (await this.context.control(run, source));
    const { migrationId } = run.request;
    // Adopted from an owner that died: QEMU still has that owner's share; this engine's links decide now.
    if (this.links.shareOf(migrationId) === undefined) {
      await sourceClient.execute('migrate-set-parameters', { 'max-bandwidth': bytesPerSecond(await this.joinLinks(run, sourceClient)) });
    }
    try {
      return await this.poll(run, vm, record, source, destination, sourceClient);
    } finally {
      await this.leaveLinks(migrationId);
    }
  }

  private async poll(
    run: Run,
    vm: LabVm,
    record: MigrationRecord,
    source: GuestInstance,
    destination: GuestInstance,
    sourceClient: QmpClient,
  ): Promise<MigrationResult> {
    const deadline = Date.now() + this.context.maxMigrationTimeMs;
    let maxThrottle = 0;
    let lastReported = '';
    let precopyReported = false;
    for (;;) {
      let info: QueryMigrate;
      try {
        info = await sourceClient.execute<QueryMigrate>('query-migrate');
      } catch (error) {
        if (this.context.closed) throw error;
        await this.context.lab.removeInstance(destination);
        await this.context.records.save({ ...record, state: 'failed', error: `source lost: ${(error as Error).message}` });
        throw new MigrationEngineError(`the source QEMU of VM ${vm.id} stopped answering during the migration: ${(error as Error).message}`, false, 'source-lost');
      }
      maxThrottle = Math.max(maxThrottle, (info['cpu-throttle-percentage'] ?? 0) / 100);
      const status = info.status ?? 'none';
      if (status === 'completed') {
        const figures = figuresOf(info, maxThrottle);
        record = await this.context.records.save({ ...record, figures });
        // A small guest on a fast link can copy all of its memory between two polls: QEMU still went
        // through pre-copy, and the progress history says so (here and before a switchover seen first).
        if (!precopyReported) {
          await run.report({ phase: 'precopy', iteration: figures.precopyIterations, transferredBytes: figures.transferredBytes, remainingBytes: 0, throttle: maxThrottle });
        }
        await run.report({ phase: 'switchover', iteration: figures.precopyIterations, transferredBytes: figures.transferredBytes, remainingBytes: 0, throttle: maxThrottle });
        return this.finish(run, vm, record, await this.context.lab.probe(source), destination, sourceClient);
      }
      if (status === 'failed' || status === 'cancelled' || status === 'none') {
        const reason = info['error-desc'] ?? `QEMU reports the migration ${status}`;
        return this.fail(vm, record, source, destination, sourceClient, reason);
      }
      if (run.signal.aborted) return this.cancel(run, vm, record, source, destination, sourceClient);
      if (Date.now() > deadline) {
        const giveUp = new MigrationEngineError(`VM ${vm.id} did not converge within ${this.context.maxMigrationTimeMs} ms; cancelled, it stays on host ${source.hostId}`, false, 'not-converged');
        return this.cancel(run, vm, record, source, destination, sourceClient, giveUp);
      }
      const progress: MigrationProgress = {
        phase: status === 'setup' ? 'setup' : status === 'active' ? 'precopy' : 'switchover',
        iteration: info.ram?.['dirty-sync-count'] ?? 0,
        transferredBytes: info.ram?.transferred ?? 0,
        remainingBytes: info.ram?.remaining ?? 0,
        throttle: (info['cpu-throttle-percentage'] ?? 0) / 100,
        bandwidthMbps: this.links.shareOf(run.request.migrationId),
      };
      const key = JSON.stringify(progress);
      if (key !== lastReported) {
        lastReported = key;
        if (progress.phase === 'switchover' && !precopyReported) await run.report({ ...progress, phase: 'precopy' });
        precopyReported ||= progress.phase !== 'setup';
        await run.report(progress);
      }
      await pause(this.context.pollIntervalMs, run.signal);
    }
  }

  /**
   * QEMU completed the switchover: the destination must now run with the source's MAC while the
   * source sits in `postmigrate`. Then the network hears of the move and the source goes away.
   */
  private async finish(
    run: Run,
    vm: LabVm,
    record: MigrationRecord,
    source: GuestProbe | null,
    destination: GuestInstance,
    sourceClient?: QmpClient,
  ): Promise<MigrationResult> {
    const destinationClient = await this.context.control(run, destination);
    const status = await waitForStatus(destinationClient, 'running', SWITCHOVER_TIMEOUT_MS);
    if (status !== 'running') {
      // The destination never took over: the source still has the whole VM and may carry on.
      if (source?.alive && sourceClient) await sourceClient.execute('cont').catch(() => undefined);
      await this.context.lab.removeInstance(destination);
      await this.context.records.save({ ...record, state: 'failed', error: `destination ${status}` });
      throw new MigrationEngineError(`VM ${vm.id} did not start on host ${destination.hostId} after the switchover (${status}); it runs on host ${record.sourceHostId} again`, false, 'destination-failed');
    }
    const sourceStatus = source?.alive ? (sourceClient ? (await sourceClient.execute<{ status: string }>('query-status')).status : source.status) : 'gone';
    if (sourceStatus === 'running') {
      // Both copies running would be two machines with one identity: keep the source, whose state is newer.
      await this.context.lab.removeInstance(destination);
      await this.context.records.save({ ...record, state: 'failed', error: 'source still running after the switchover' });
      throw new MigrationEngineError(`VM ${vm.id}'s source on host ${record.sourceHostId} still runs after the switchover; the destination was stopped`, false, 'split');
    }
    const figures = record.figures ?? (source?.alive ? await figuresFrom(this.context.lab, source.instance, sourceClient) : null);
    const destinationMac = await destinationClient.execute<string>('qom-get', { path: NIC_PATH, property: 'mac' });
    const sourceMac = record.sourceMac ?? vm.macAddress;

    await run.report({ phase: 'announce', iteration: figures?.precopyIterations ?? 0, transferredBytes: figures?.transferredBytes ?? 0, remainingBytes: 0 });
    const networkNotified = await announce(destinationClient);

    await run.report({ phase: 'cleanup', iteration: figures?.precopyIterations ?? 0, transferredBytes: figures?.transferredBytes ?? 0, remainingBytes: 0 });
    if (source) await this.context.lab.quitInstance(source.instance, sourceClient);
    await this.context.lab.saveVm({ ...vm, hostId: destination.hostId, running: true });

    const result: MigrationResult = {
      hostId: destination.hostId,
      datastoreId: vm.datastoreId ?? undefined,
      totalTimeMs: figures?.totalTimeMs ?? 0,
      downtimeMs: figures?.downtimeMs ?? 0,
      downtimeLimitMs: record.downtimeLimitMs,
      transferredBytes: figures?.transferredBytes ?? 0,
      precopyIterations: figures?.precopyIterations ?? 0,
      macPreserved: destinationMac === sourceMac,
      networkNotified,
      maxThrottle: figures?.maxThrottle ?? 0,
    };
    await this.context.records.save({ ...record, figures: figures ?? undefined, state: 'completed', result });
    return result;
  }

  private async cancel(
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
      record = await this.context.records.save({ ...record, figures: figuresOf(info, 0) });
      return this.finish(run, vm, record, await this.context.lab.probe(source), destination, sourceClient);
    }
    await this.context.lab.removeInstance(destination);
    const sourceStatus = (await sourceClient.execute<{ status: string }>('query-status')).status;
    await this.context.records.save({ ...record, state: reason ? 'failed' : 'cancelled', error: reason?.message ?? `cancelled (source ${sourceStatus})` });
    if (reason) throw reason;
    const failure = run.failure();
    if (failure) throw asEngineError(failure, 'progress reporting failed, migration cancelled');
    throw new MigrationCancelledError(`migration ${record.migrationId} of VM ${vm.id} cancelled; it runs on host ${source.hostId} (${sourceStatus})`);
  }

  private async fail(
    vm: LabVm,
    record: MigrationRecord,
    source: GuestInstance,
    destination: GuestInstance,
    sourceClient: QmpClient,
    reason: string,
  ): Promise<never> {
    const destinationAlive = await this.context.lab.isAlive(destination);
    await this.context.lab.removeInstance(destination);
    const sourceStatus = (await sourceClient.execute<{ status: string }>('query-status')).status;
    await this.context.records.save({ ...record, state: 'failed', error: reason });
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
        return { instance: await this.context.lab.start(vm, hostId, { incomingPort: port }), port };
      } catch (error) {
        lastError = error as Error;
        if (!(error instanceof GuestStartError && error.addressInUse)) break;
      }
    }
    const portInUse = lastError instanceof GuestStartError && lastError.addressInUse;
    throw new MigrationEngineError(`the destination of VM ${vm.id} on host ${hostId} did not start: ${lastError?.message}`, true, portInUse ? 'port-in-use' : 'destination-start');
  }

}

/** QEMU's `max-bandwidth` (bytes per second) for a rate in Mb/s. */
function bytesPerSecond(mbps: number): number {
  return Math.max(1, Math.round((mbps * 1_000_000) / 8));
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
