import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { REDIS } from '../redis/redis.module.js';

const REQUEST_TTL_SECONDS = 24 * 3600;

/**
 * Cancel requests for running migrations reach whichever worker drives them: a key says the
 * request stands (for a worker that starts or resumes the migration later), a message wakes the
 * worker that runs it now.
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

  private key(migrationId: string): string {
    return `${this.config.REDIS_PREFIX}:migrations:cancel:${migrationId}`;
  }

  async request(migrationId: string): Promise<void> {
    await this.redis.set(this.key(migrationId), '1', 'EX', REQUEST_TTL_SECONDS);
    await this.redis.publish(this.channel, migrationId);
  }

  async isRequested(migrationId: string): Promise<boolean> {
    return (await this.redis.exists(this.key(migrationId))) === 1;
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
