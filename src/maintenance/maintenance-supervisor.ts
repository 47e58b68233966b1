import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { every } from '../scheduler/every.js';
import { MaintenanceService } from './maintenance.service.js';

const SUPERVISE_EVERY_MS = 1000;

/** The scheduler role watches every maintenance operation: done, retry elsewhere, or stalled. */
@Injectable()
export class MaintenanceSupervisor implements OnApplicationBootstrap {
  private readonly logger = new Logger(MaintenanceSupervisor.name);

  constructor(
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
    private readonly maintenance: MaintenanceService,
    private readonly registry: SchedulerRegistry,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.BALLAST_ROLES.has('scheduler')) return;
    every(this.registry, this.logger, 'maintenance', SUPERVISE_EVERY_MS, () => this.tick());
  }

  async tick(): Promise<void> {
    for (const id of await this.maintenance.active()) {
      await this.maintenance.supervise(id).catch((error: Error) => this.logger.error(`operation ${id}: ${error.message}`));
    }
  }
}
