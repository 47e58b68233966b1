import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { MigrationDispatcher } from '../migrations/migration-dispatcher.js';
import { MigrationsRepository } from '../migrations/migrations.repository.js';
import { every } from './every.js';

const DISPATCH_EVERY_MS = 2000;
const REQUEUE_EVERY_MS = 10000;

/**
 * The scheduler role's migration upkeep: starts migrations whose slots freed up, and puts back on
 * the queue what Redis lost. Balancing on a schedule is the closed loop's (src/closedloop).
 */
@Injectable()
export class SchedulerService implements OnApplicationBootstrap {
  private readonly logger = new Logger(SchedulerService.name);

  constructor(
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
    private readonly registry: SchedulerRegistry,
    private readonly dispatcher: MigrationDispatcher,
    private readonly migrations: MigrationsRepository,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.BALLAST_ROLES.has('scheduler')) return;
    every(this.registry, this.logger, 'dispatch', DISPATCH_EVERY_MS, () => this.dispatchPending());
    every(this.registry, this.logger, 'requeue', REQUEUE_EVERY_MS, async () => {
      const requeued = await this.dispatcher.requeueOrphans();
      if (requeued > 0) this.logger.warn(`put ${requeued} migrations back on the queue (their jobs were gone)`);
    });
  }

  async dispatchPending(): Promise<void> {
    for (const clusterId of await this.migrations.clustersWithPending()) await this.dispatcher.request(clusterId);
  }
}
