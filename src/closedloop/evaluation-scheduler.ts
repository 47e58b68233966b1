import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { REDIS } from '../redis/redis.module.js';
import { every } from '../scheduler/every.js';
import { EvaluationService } from './evaluation.service.js';
import { EvaluationsRepository } from './evaluations.repository.js';
import { IncidentsRepository } from './incidents.repository.js';

export const EVALUATION_QUEUE = 'evaluations';

/** hot: a host went above its line (evaluated at once); otherwise the cluster was due (skipped if evaluated since). */
export interface EvaluationJob {
  clusterId: string;
  hot: boolean;
}
const TICK_MS = 2000;
const DUE_PER_TICK = 1000;
const CONCURRENCY = 4;

/** BullMQ job ids may not contain ':'; a cluster id may. */
export const evaluationJobId = (clusterId: string) => `evaluate-${encodeURIComponent(clusterId)}`;

/**
 * Evaluations as BullMQ jobs: every scheduler process puts due clusters on the queue `evaluations`
 * (job id = the cluster's, so a cluster waits there once however many schedulers see it due) and
 * works the queue, so any number of scheduler processes share the clusters; the evaluation's
 * advisory lock keeps one evaluation per cluster at a time. Due: the policy's interval or cron has
 * come, a detection's hold time has run out, a host went above its line since the last
 * evaluation, or a host fell silent past its grace period or answered again after failing (those
 * evaluated at once). PostgreSQL holds when each is due: a lost queue refills itself.
 */
@Injectable()
export class EvaluationScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(EvaluationScheduler.name);
  readonly queue: Queue<EvaluationJob>;
  private worker: Worker<EvaluationJob> | null = null;

  constructor(
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly registry: SchedulerRegistry,
    private readonly evaluations: EvaluationsRepository,
    private readonly incidents: IncidentsRepository,
    private readonly service: EvaluationService,
  ) {
    this.queue = new Queue(EVALUATION_QUEUE, {
      connection: redis,
      prefix: config.REDIS_PREFIX,
      defaultJobOptions: { removeOnComplete: true, removeOnFail: true, attempts: 1 },
    });
    this.queue.on('error', (error) => this.logger.warn(`queue ${EVALUATION_QUEUE}: ${error.message}`));
  }

  get enabled(): boolean {
    return this.config.BALLAST_ROLES.has('scheduler') && this.config.BALANCE_INTERVAL_SECONDS > 0;
  }

  onApplicationBootstrap(): void {
    if (!this.enabled) return;
    this.startWorker();
    every(this.registry, this.logger, 'evaluations', TICK_MS, () => this.tick());
  }

  /**
   * One scheduler process per tick looks for due and hot clusters: the queue is shared, and the
   * hot-host and failed-host scans read every VM and host of every cluster (hundreds of ms at 1,000
   * clusters), so a second process doing the same in the same interval adds nothing but load. The
   * claim lapses before the next tick; should its holder die, the next tick is someone else's.
   */
  private async tick(): Promise<void> {
    const claimed = await this.redis.set(`${this.config.REDIS_PREFIX}:evaluation-tick`, String(process.pid), 'PX', TICK_MS - 200, 'NX');
    if (claimed === null) return;
    await this.enqueueDue();
  }

  startWorker(concurrency = CONCURRENCY): void {
    this.worker = new Worker<EvaluationJob>(EVALUATION_QUEUE, async (job) => this.evaluateAndTime(job.data), {
      connection: { url: this.config.REDIS_URL, maxRetriesPerRequest: null },
      prefix: this.config.REDIS_PREFIX,
      concurrency,
    });
    this.worker.on('error', (error) => this.logger.error(`evaluations queue: ${error.message}`));
    this.worker.on('failed', (job, error) => this.logger.error(`evaluating ${job?.data.clusterId}: ${error.message}`));
  }

  /**
   * One evaluation; when a detection's hold time runs out before the cluster's schedule, a delayed
   * job evaluates it then, so that acting on a held detection does not wait for the next tick (the
   * tick still finds it due should the job be lost; a second look finds it not due and skips).
   */
  private async evaluateAndTime(job: EvaluationJob) {
    const outcome = await this.service.evaluate(job.clusterId, !job.hot);
    if (outcome.holdEndsInMs !== undefined) {
      const data: EvaluationJob = { clusterId: job.clusterId, hot: false };
      const delay = Math.max(0, outcome.holdEndsInMs);
      await this.queue.add('evaluate', data, { jobId: `${evaluationJobId(job.clusterId)}-at-${Date.now() + delay}`, delay });
    }
    return outcome;
  }

  /** Puts the due and the newly hot clusters on the queue; returns how many were due. */
  async enqueueDue(now = new Date()): Promise<number> {
    const hot = new Set([...(await this.evaluations.newlyHot()), ...(await this.incidents.clustersWithFailingOrReturningHosts(now))]);
    const due = (await this.evaluations.due(now, DUE_PER_TICK)).filter((id) => !hot.has(id));
    await this.enqueue([...due.map((clusterId) => ({ clusterId, hot: false })), ...[...hot].map((clusterId) => ({ clusterId, hot: true }))]);
    return due.length + hot.size;
  }

  async enqueue(jobs: EvaluationJob[]): Promise<void> {
    if (jobs.length === 0) return;
    await this.queue.addBulk(jobs.map((data) => ({ name: 'evaluate', data, opts: { jobId: evaluationJobId(data.clusterId) } })));
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.worker?.close();
    await this.queue.close();
  }
}
