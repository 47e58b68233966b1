import { Controller, Get, Inject } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { HealthCheck, type HealthCheckResult, HealthCheckService, HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import type { Redis } from 'ioredis';
import { Public } from '../auth/access.decorators.js';
import { REDIS } from '../redis/redis.module.js';

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly postgres: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  /** Alive: the process answers. */
  @Get()
  @HealthCheck()
  alive(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  /** Ready: PostgreSQL and Redis answer. */
  @Get('ready')
  @HealthCheck()
  ready(): Promise<HealthCheckResult> {
    return this.health.check([() => this.postgres.pingCheck('postgres', { timeout: 2000 }), () => this.pingRedis()]);
  }

  private async pingRedis() {
    const check = this.indicators.check('redis');
    try {
      const answer = await Promise.race([
        this.redis.ping(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout after 2000 ms')), 2000).unref()),
      ]);
      return answer === 'PONG' ? check.up() : check.down({ message: `unexpected answer ${answer}` });
    } catch (error) {
      return check.down({ message: (error as Error).message });
    }
  }
}
