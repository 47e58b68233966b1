import { hostname } from 'node:os';
import { type BeforeApplicationShutdown, Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { InjectDataSource } from '@nestjs/typeorm';
import { type Job, Worker } from 'bullmq';
import type { DataSource } from 'typeorm';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import {
  MIGRATION_ENGINE,
  MigrationCancelledError,
  type MigrationEngine,
  MigrationEngineError,
  type MigrationResult,
  type RestartResult,
  type VmLocation,
} from '../engine/migration-engine.js';
import { Cancellations } from './cancellations.js';
import { MigrationDispatcher } from './migration-dispatcher.js';
import { withLogFields } from '../logging/log-context.js';
import { every } from '../scheduler/every.js';
import { NotificationsService } from '../notifications/notifications.service.js';
import { MigrationJournal } from './migration-journal.js';
import { MIGRATION_QUEUE, type MigrationJobData } from './migration-queue.js';
import { MigrationsRepository } from './migrations.repository.js';
import { predictionFor } from './prediction.js';
import { ProgressLog } from './progress-log.js';
import { cancelDependents, type Transition } from './transitions.js';

const SETTLE_POLL_MS = 250;
/**
 * How often a worker looks in PostgreSQL for cancel requests of the migrations it drives: the Redis
 * message is the fast way, this the sure one (a message sent while Redis was away is lost).
 */
const CANCEL_CHECK_MS = 2000;

/** Figures worth a line in the history, from an engine's result. */
function summary(result: MigrationResult): Record<string, unknown> {
  return {
    hostId: result.hostId,
    totalTimeMs: result.totalTimeMs,
    downtimeMs: result.downtimeMs,
    downtimeLimitMs: result.downtimeLimitMs,
    transferredBytes: result.transferredBytes,
    precopyIterations: result.precopyIterations,
    macPreserved: result.macPreserved,
    networkNotified: result.networkNotified,
  };
}

/**
 * The worker role: takes migrations off the BullMQ queue and drives them through the engine,
 * writing every transition. A migration found `running` when its job arrives was left by a worker
 * that died (BullMQ saw its job stall), or its job was lost with Redis and put back from PostgreSQL
 * while it ran: it is reconciled with the engine's answer to "where is this VM now?", never run
 * twice and never lost. Attempts are counted in PostgreSQL, so a job put back continues the count.
 */
@Injectable()
export class MigrationWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(MigrationWorker.name);
  private readonly name = `${hostname()}:${process.pid}`;
  private readonly running = new Map<string, AbortController>();
  private worker?: Worker<MigrationJobData>;

  constructor(
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
    @Inject(MIGRATION_ENGINE) private readonly engine: MigrationEngine,
    @InjectDataSource() private readonly db: DataSource,
    private readonly journal: MigrationJournal,
    private readonly migrations: MigrationsRepository,
    private readonly dispatcher: MigrationDispatcher,
    private readonly cancellations: Cancellations,
    private readonly notifications: NotificationsService,
    private readonly registry: SchedulerRegistry,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.BALLAST_ROLES.has('worker')) return;
    await this.cancellations.listen((migrationId) => this.running.get(migrationId)?.abort());
    every(this.registry, this.logger, 'cancel-requests', CANCEL_CHECK_MS, () => this.abortCancelRequested());
    const lockMs = this.config.MIGRATION_LOCK_SECONDS * 1000;
    this.worker = new Worker<MigrationJobData>(MIGRATION_QUEUE, (job) => withLogFields({ migrationId: job.data.migrationId, clusterId: job.data.clusterId }, () => this.process(job)), {
      // Its own connections (BullMQ makes a blocking one too), without the shared one's auto pipelining.
      connection: { url: this.config.REDIS_URL, maxRetriesPerRequest: null },
      prefix: this.config.REDIS_PREFIX,
      concurrency: this.config.WORKER_CONCURRENCY,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      maxStalledCount: 5,
    });
    this.worker.on('error', (error) => this.logger.error(`queue: ${error.message}`));
    this.logger.log(`worker ${this.name}: ${this.config.WORKER_CONCURRENCY} migrations at once, engine ${this.engine.name}`);
  }

  /**
   * SIGTERM: take no new migration, let the running ones finish; before the engine, Redis and
   * PostgreSQL close (their hooks run after this one).
   */
  async beforeApplicationShutdown(): Promise<void> {
    await this.worker?.close();
  }

  /** Aborts the migrations driven here whose cancel stands in PostgreSQL (the Redis message may not have come). */
  private async abortCancelRequested(): Promise<void> {
    if (this.running.size === 0) return;
    for (const id of await this.migrations.cancelRequestedAmong([...this.running.keys()])) this.running.get(id)?.abort();
  }

  private async process(job: Job<MigrationJobData>): Promise<void> {
    const { migrationId, clusterId } = job.data;
    // Driven here already: its job came again (put back from PostgreSQL after Redis lost it, or
    // handed out again after Redis was away longer than the lock). One driver is enough.
    if (this.running.has(migrationId)) return;
    // Listening before starting: a cancel asked from now on reaches this controller; one asked
    // earlier comes back with the transition.
    const controller = new AbortController();
    this.running.set(migrationId, controller);
    try {
      const started = await this.journal.transition({
        migrationId,
        from: 'queued',
        to: 'running',
        countAttempt: true,
        prediction: predictionFor(job.data.request) as Record<string, unknown> | null,
        // `rebuilt`: the job was put back from PostgreSQL, its first one gone with Redis.
        detail: { worker: this.name, ...(job.data.rebuilt && { rebuilt: true }) },
      });
      if (started) {
        if (started.cancelRequested) controller.abort();
        if (job.data.restart) return await this.driveRestart(job, started.attempts);
        if (await this.refusedByEngine(job)) return;
        return await this.drive(job, controller.signal, started.attempts);
      }
      // Finished, cancelled or not queued (yet): a repeated delivery, nothing to do.
      const current = await this.migrations.stateOf(migrationId);
      if (current?.state !== 'running') return;
      if (current.cancelRequested) controller.abort();
      return await this.reconcile(job, controller.signal);
    } finally {
      this.running.delete(migrationId);
      void this.dispatcher.request(clusterId);
    }
  }

  /**
   * The engine's own check before anything moves (the VM runs on the source as the engine sees it,
   * the target takes it): a refusal fails the migration with the engine's reason, the VM where it is.
   */
  private async refusedByEngine(job: Job<MigrationJobData>): Promise<boolean> {
    const { request } = job.data;
    const check = await this.engine.precheck(request);
    if (check.ok) return false;
    const reason = `the ${this.engine.name} engine refused the migration: ${check.reason ?? 'no reason given'}`;
    await this.finish(job, { to: 'failed', error: reason, detail: { code: 'precheck-refused', reason: check.reason ?? null, vmStaysOn: request.source.id } });
    return true;
  }

  /** Runs the migration, which is `running`, through the engine to its end; `attempt` counts from 1 (PostgreSQL's count). */
  private async drive(job: Job<MigrationJobData>, signal: AbortSignal, attempt: number): Promise<void> {
    const { migrationId, request } = job.data;
    // The journal keeps a migration's entries in order: progress rides along with the next write.
    const progress = new ProgressLog(migrationId, (event) => this.journal.record(event));
    let outcome: { result: MigrationResult } | { error: unknown };
    try {
      outcome = { result: await this.engine.migrate(request, { onProgress: (p) => progress.add(p), signal }) };
    } catch (error) {
      outcome = { error };
    }
    progress.end();
    try {
      if ('result' in outcome) {
        await this.finish(job, { to: 'succeeded', result: outcome.result, error: null, detail: summary(outcome.result) });
      } else {
        await this.settleFailure(job, outcome.error, attempt);
      }
    } finally {
      await progress.settled();
    }
  }

  private async settleFailure(job: Job<MigrationJobData>, error: unknown, attempt: number): Promise<void> {
    const { migrationId } = job.data;
    const message = (error as Error).message ?? String(error);
    if (error instanceof MigrationCancelledError) {
      return this.finish(job, { to: 'cancelled', error: message, detail: { reason: message } });
    }
    const engineError = error instanceof MigrationEngineError ? error : undefined;
    // PostgreSQL's count, not the job's: a job put back after Redis lost it starts its own count again.
    const attemptsLeft = attempt < this.config.MIGRATION_ATTEMPTS;
    if (engineError?.transient && attemptsLeft) {
      await this.journal.transition({
        migrationId,
        from: 'running',
        to: 'queued',
        eventType: 'retry',
        error: message,
        detail: { code: engineError.code, reason: message, attempt },
      });
      throw error; // BullMQ runs it again after its backoff
    }
    if (!engineError) this.logger.error(`migration ${migrationId}: ${(error as Error).stack ?? message}`);
    await this.finish(job, {
      to: 'failed',
      error: message,
      detail: {
        code: engineError?.code ?? 'internal',
        reason: message,
        vmStaysOn: job.data.request.source.id,
        ...(engineError?.transient && { attempt, attemptsAllowed: this.config.MIGRATION_ATTEMPTS }),
      },
    });
  }

  /**
   * An HA restart: the engine starts the VM of the failed host on the target (once per migration id,
   * however often it is asked). A restart is not cancelled half-way: it either boots or fails.
   */
  private async driveRestart(job: Job<MigrationJobData>, attempt: number): Promise<void> {
    const restart = job.data.restart!;
    try {
      const result = await this.engine.restart(restart);
      await this.finish(job, { to: 'succeeded', result, error: null, detail: { hostId: result.hostId, bootTimeMs: result.bootTimeMs, restart: true } });
    } catch (error) {
      await this.settleFailure(job, error, attempt);
    }
  }

  /**
   * The migration was left running by a driver that is gone (its worker died or stalled), or its job
   * was lost with Redis while it ran and put back from PostgreSQL: the engine knows where the VM is.
   */
  private async reconcile(job: Job<MigrationJobData>, signal: AbortSignal): Promise<void> {
    const { migrationId, request } = job.data;
    const vmId = request.vm.id;
    const cause = job.data.rebuilt
      ? 'the queue lost its job while it ran (Redis restarted, failed over or was emptied) and it was put back from PostgreSQL'
      : 'its worker stopped renewing its lock mid-migration (the worker died or stalled)';
    const location = await this.settledLocation(vmId);
    const detail = { worker: this.name, cause: job.data.rebuilt ? 'job-lost' : 'worker-lost', foundOn: location.hostId, running: location.running };
    if (job.data.restart) {
      if (location.hostId === request.target.id && location.running) return this.finish(job, { to: 'succeeded', eventType: 'reconciled', error: null, detail });
      if (location.hostId !== null && location.hostId !== request.source.id && location.hostId !== request.target.id) {
        const error = `${cause}; the ${this.engine.name} engine finds VM ${vmId} running on ${location.hostId}: not started again`;
        return this.finish(job, { to: 'failed', eventType: 'reconciled', error, detail });
      }
      // Not booted yet: the engine answers a repeated restart of this id from its record, never twice.
      const attempt = await this.migrations.countAttempt(migrationId);
      if (attempt === null) return; // ended meanwhile (another delivery settled it)
      await this.journal.record({ migrationId, type: 'reconciled', detail: { ...detail, action: 'restarting again', attempt } });
      return this.driveRestart(job, attempt);
    }
    if (request.kind === 'compute' && location.hostId === request.target.id) {
      return this.finish(job, { to: 'succeeded', eventType: 'reconciled', error: null, detail });
    }
    if (location.hostId === null) {
      // The engine has no record of the VM (the simulated engine's world may have gone with Redis):
      // nothing moved it that the engine knows of. Its own check says whether it can run it from the source.
      const check = await this.engine.precheck(request);
      if (!check.ok) {
        const error = `${cause}; the ${this.engine.name} engine has no record of VM ${vmId} and refuses to migrate it again (${check.reason ?? 'no reason given'}): it stays where the inventory has it, on ${request.source.id}`;
        return this.finish(job, { to: 'failed', eventType: 'reconciled', error, detail: { ...detail, code: 'unknown-to-engine', vmStaysOn: request.source.id } });
      }
    } else if (location.hostId !== request.source.id) {
      const error = `${cause}; the ${this.engine.name} engine finds VM ${vmId} on ${location.hostId}, neither its source ${request.source.id} nor its target ${request.target.id}`;
      return this.finish(job, { to: 'failed', eventType: 'reconciled', error, detail: { ...detail, code: 'vm-elsewhere' } });
    }
    if (signal.aborted) return this.finish(job, { to: 'cancelled', eventType: 'reconciled', detail });
    // Not moved (or, for storage, maybe moved: the engine answers a repeated call from its record).
    const attempt = await this.migrations.countAttempt(migrationId);
    if (attempt === null) return; // ended meanwhile (another delivery settled it)
    await this.journal.record({ migrationId, type: 'reconciled', detail: { ...detail, action: 'migrating again', attempt } });
    return this.drive(job, signal, attempt);
  }

  /** The migration's last transition; one that did not succeed takes the moves that wait for it down with it. */
  private async finish(job: Job<MigrationJobData>, end: Omit<Transition, 'migrationId' | 'from'>): Promise<void> {
    const { migrationId, clusterId, request } = job.data;
    const applied = await this.journal.transition({ migrationId, from: 'running', ...end });
    if (end.to !== 'succeeded') await cancelDependents(this.db.manager, migrationId);
    if (applied) this.logger.debug({ msg: `migration ${migrationId} ${end.to}`, vmId: request.vm.id, error: end.error ?? undefined });
    if (applied && end.to === 'succeeded' && job.data.restart) {
      const result = end.result as RestartResult | undefined;
      await this.notifications.notify('ha.restart', {
        clusterId,
        migrationId,
        vmId: request.vm.id,
        fromHostId: request.source.id,
        toHostId: request.target.id,
        bootTimeMs: result?.bootTimeMs ?? null,
      });
    }
    if (applied && end.to === 'failed') {
      await this.notifications.notify('migration.failed', {
        clusterId,
        migrationId,
        vmId: request.vm.id,
        kind: job.data.restart ? 'restart' : request.kind,
        sourceHostId: request.source.id,
        targetHostId: request.target.id,
        error: end.error ?? null,
      });
    }
  }

  /** Where the VM is once the engine has nothing in flight for it (bounded by the lock time). */
  private async settledLocation(vmId: string): Promise<VmLocation> {
    const deadline = Date.now() + 2 * this.config.MIGRATION_LOCK_SECONDS * 1000;
    let location = await this.engine.locate(vmId);
    while (location.migrating && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
      location = await this.engine.locate(vmId);
    }
    return location;
  }

}
