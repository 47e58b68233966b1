import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { unlessRedisIsAway } from '../redis/bounded.js';
import { REDIS } from '../redis/redis.module.js';

/** How long a cancel request waits for Redis to pass its message on before it answers anyway. */
export const CANCEL_DELIVERY_WAIT_MS = 2000;

/**
 * Cancel requests for running migrations reach whichever worker drives them now, by a Redis
 * message. The request stands in PostgreSQL first (`cancel_requested`): a worker that starts or
 * resumes the migration later sees it there, and workers also look there for the migrations they
 * drive (MigrationWorker), so a message Redis could not carry is acted on all the same.
 */
@Injectable()
export class Cancellations implements OnApplicationShutdown {
  private subscriber?: Redis;

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
  ) {}

  private get channel(): string {
    return `${this.config.REDIS_PREFIX}:migrations:cancel`;
  }

  /** Tells the workers now; false when Redis does not take the message (the workers find the request in PostgreSQL). */
  async request(migrationId: string): Promise<boolean> {
    const receivers = await unlessRedisIsAway(this.redis, CANCEL_DELIVERY_WAIT_MS, () => this.redis.publish(this.channel, migrationId));
    return receivers !== undefined;
  }

  /** Calls `onCancel` with the id of every migration whose cancel is requested from now on. */
  async listen(onCancel: (migrationId: string) => void): Promise<void> {
    this.subscriber = this.redis.duplicate();
    this.subscriber.on('message', (_channel: string, migrationId: string) => onCancel(migrationId));
    await this.subscriber.subscribe(this.channel);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.subscriber?.quit().catch(() => this.subscriber?.disconnect());
  }
}
