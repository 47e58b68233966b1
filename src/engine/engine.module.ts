import { Global, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { REDIS } from '../redis/redis.module.js';
import { MIGRATION_ENGINE, type MigrationEngine } from './migration-engine.js';
import { inventoryHostDirectory } from '../inventory/host-directory.js';
import { LibvirtEngine } from './libvirt/libvirt-engine.js';
import { QemuEngine } from './qemu/qemu-engine.js';
import { SimulatedEngine } from './simulated/simulated-engine.js';

/** The adapter named by MIGRATION_ENGINE. */
export function createEngine(config: BallastConfig, redis: Redis, db: DataSource): MigrationEngine {
  switch (config.MIGRATION_ENGINE) {
    case 'simulated':
      return new SimulatedEngine({
        redis,
        keyPrefix: `${config.REDIS_PREFIX}:sim:`,
        timeScale: config.SIM_TIME_SCALE,
        faults: config.SIM_FAULTS,
        downtimeLimitMs: config.MIGRATION_DOWNTIME_LIMIT_MS,
        // A migration whose driver stopped renewing is taken for dead after as long as BullMQ waits.
        leaseMs: config.MIGRATION_LOCK_SECONDS * 1000,
      });
    case 'qemu':
      return new QemuEngine({ stateDir: config.QEMU_LAB_DIR });
    case 'libvirt':
      return new LibvirtEngine({ hosts: inventoryHostDirectory(db) });
  }
}

@Injectable()
class EngineCloser implements OnApplicationShutdown {
  constructor(@Inject(MIGRATION_ENGINE) private readonly engine: MigrationEngine) {}

  async onApplicationShutdown(): Promise<void> {
    await this.engine.close();
  }
}

@Global()
@Module({
  providers: [
    { provide: MIGRATION_ENGINE, inject: [BALLAST_CONFIG, REDIS, getDataSourceToken()], useFactory: createEngine },
    EngineCloser,
  ],
  exports: [MIGRATION_ENGINE],
})
export class EngineModule {}
