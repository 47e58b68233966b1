import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { REDIS } from '../redis/redis.module.js';

/**
 * Cancel requests for running migrations reach whichever worker drives them now, by a Redis
 * message. (The request also stands in PostgreSQL, `cancel_requested`, for a worker that starts or
 * resumes the migration later.)
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

  async request(migrationId: string): Promise<void> {
    await this.redis.publish(this.channel, migrationId);
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
