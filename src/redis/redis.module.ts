import { Global, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { Redis } from 'ioredis';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';

export const REDIS = Symbol('REDIS');

/**
 * The shared connection for commands. Commands issued in the same tick go out in one write (auto
 * pipelining): hundreds of concurrent migrations otherwise pay a system call per command. Blocking
 * reads are not made on it: BullMQ workers open their own connection for those.
 */
export function createRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, enableAutoPipelining: true });
}

@Injectable()
class RedisCloser implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

@Global()
@Module({
  providers: [
    { provide: REDIS, inject: [BALLAST_CONFIG], useFactory: (config: BallastConfig) => createRedis(config.REDIS_URL) },
    RedisCloser,
  ],
  exports: [REDIS],
})
export class RedisModule {}
