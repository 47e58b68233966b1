import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import type { MigrationRequest, RestartRequest } from '../engine/migration-engine.js';
import { unlessRedisIsAway } from '../redis/bounded.js';
import { REDIS } from '../redis/redis.module.js';

export const MIGRATION_QUEUE = 'migrations';
/** How long dropping a cancelled migration's job may hold up the answer to the cancel. */
const JOB_REMOVAL_WAIT_MS = 2000;
/** Job states asked of Redis at once when looking for migrations whose job is gone. */
const JOB_STATE_BATCH = 500;

export interface MigrationJobData {
  migrationId: string;
  clusterId: string;
  request: MigrationRequest;
  /** Put back on the queue from PostgreSQL: the job it had was gone (Redis lost it, or it had ended). */
  rebuilt?: boolean;
  /** An HA restart (a migrations row of kind `restart`): the engine starts the VM on the target, it does not migrate it. */
  restart?: RestartRequest;
}

export interface QueuedMigration extends MigrationJobData {
  priority: number;
}

/**
 * The BullMQ queue `migrations`. A job's id is its migration's id, so a second delivery of the same
 * migration is the same job (and, once that job is gone, a harmless no-op for the worker).
 * PostgreSQL stays the truth: a lost queue is rebuilt from the queued and running migrations.
 */
@Injectable()
export class MigrationQueue implements OnApplicationShutdown {
  private readonly logger = new Logger(MigrationQueue.name);
  readonly queue: Queue<MigrationJobData>;

  constructor(@Inject(REDIS) private readonly redis: Redis, @Inject(BALLAST_CONFIG) private readonly config: BallastConfig) {
    this.queue = new Queue<MigrationJobData>(MIGRATION_QUEUE, {
      connection: redis,
      prefix: config.REDIS_PREFIX,
      defaultJobOptions: {
        attempts: config.MIGRATION_ATTEMPTS,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: true,
        removeOnFail: { count: 10000 },
      },
    });
    // One line per failed reconnect while Redis is away, not BullMQ's stack on the console.
    this.queue.on('error', (error) => this.logger.warn(`queue ${MIGRATION_QUEUE}: ${error.message}`));
  }

  async add(migrations: QueuedMigration[]): Promise<void> {
    if (migrations.length === 0) return;
    await this.queue.addBulk(
      migrations.map(({ priority, ...data }) => ({
        name: 'migrate',
        data,
        opts: { jobId: data.migrationId, priority },
      })),
    );
  }

  /** Drops a migration's job, unless Redis is away (false then): a job left behind is a no-op for the worker. */
  async removeJob(migrationId: string): Promise<boolean> {
    return (await unlessRedisIsAway(this.redis, JOB_REMOVAL_WAIT_MS, () => this.queue.remove(migrationId))) !== undefined;
  }

  /**
   * Of these migrations, those BullMQ holds no live job for (waiting, delayed, active): their job
   * ended, or vanished with Redis. An ended job is dropped so that the migration can have a new one.
   * The states are asked a batch at a time, the commands of a batch pipelined on the connection:
   * one by one, the thousands of queued migrations of a large backlog took seconds of a scheduler
   * process (and as many round trips to Redis) at every pass.
   */
  async withoutLiveJob(migrationIds: string[]): Promise<string[]> {
    const missing: string[] = [];
    for (let start = 0; start < migrationIds.length; start += JOB_STATE_BATCH) {
      const batch = migrationIds.slice(start, start + JOB_STATE_BATCH);
      const states = await Promise.all(batch.map((id) => this.queue.getJobState(id)));
      const ended = batch.filter((_, i) => states[i] === 'completed' || states[i] === 'failed');
      await Promise.all(ended.map((id) => this.queue.remove(id)));
      missing.push(...batch.filter((_, i) => states[i] === 'unknown' || states[i] === 'completed' || states[i] === 'failed'));
    }
    return missing;
  }

  /** Puts migrations whose job is gone (withoutLiveJob) back on the queue, marked as rebuilt. Returns how many. */
  async requeue(migrations: QueuedMigration[]): Promise<number> {
    await this.add(migrations.map((migration) => ({ ...migration, rebuilt: true })));
    return migrations.length;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue.close();
  }
}
