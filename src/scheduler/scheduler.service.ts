import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { tryAdvisoryXactLock } from '../database/advisory-locks.js';
import { ClusterEntity } from '../inventory/entities/cluster.entity.js';
import { MigrationDispatcher } from '../migrations/migration-dispatcher.js';
import { MigrationsRepository } from '../migrations/migrations.repository.js';
import { PlansService, type PlanView } from '../plans/plans.service.js';
import { every } from './every.js';

const DISPATCH_EVERY_MS = 2000;
const REQUEUE_EVERY_MS = 10000;
const FIRST_BALANCE_AFTER_MS = 20000;

/**
 * The scheduler role: balances every cluster on a schedule (DRS semantics: a fully-automated
 * cluster's plan is approved at once, the others' plans wait as recommendations), starts migrations
 * whose slots freed up, and puts back on the queue what Redis lost.
 */
@Injectable()
export class SchedulerService implements OnApplicationBootstrap {
  private readonly logger = new Logger(SchedulerService.name);

  constructor(
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
    @InjectDataSource() private readonly db: DataSource,
    private readonly registry: SchedulerRegistry,
    private readonly dispatcher: MigrationDispatcher,
    private readonly migrations: MigrationsRepository,
    private readonly plans: PlansService,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.BALLAST_ROLES.has('scheduler')) return;
    every(this.registry, this.logger, 'dispatch', DISPATCH_EVERY_MS, () => this.dispatchPending());
    every(this.registry, this.logger, 'requeue', REQUEUE_EVERY_MS, async () => {
      const requeued = await this.dispatcher.requeueOrphans();
      if (requeued > 0) this.logger.warn(`put ${requeued} migrations back on the queue (their jobs were gone)`);
    });
    if (this.config.BALANCE_INTERVAL_SECONDS > 0) {
      const intervalMs = this.config.BALANCE_INTERVAL_SECONDS * 1000;
      // A first pass soon after start, then one every interval.
      const first = setTimeout(() => void this.balanceAll(), Math.min(intervalMs, FIRST_BALANCE_AFTER_MS));
      this.registry.addTimeout('first-balance', first);
      every(this.registry, this.logger, 'balance', intervalMs, () => this.balanceAll());
    }
  }

  async dispatchPending(): Promise<void> {
    for (const clusterId of await this.migrations.clustersWithPending()) await this.dispatcher.request(clusterId);
  }

  async balanceAll(): Promise<void> {
    const clusters = await this.db.getRepository(ClusterEntity).find({ select: { id: true }, order: { id: 'ASC' } });
    for (const { id } of clusters) {
      try {
        await this.balance(id);
      } catch (error) {
        this.logger.error(`balancing ${id}: ${(error as Error).message}`);
      }
    }
  }

  /**
   * Plans one cluster unless another scheduler is planning it or its migrations are still running;
   * returns the stored plan (approved when the cluster is fully automated), or null.
   */
  async balance(clusterId: string): Promise<PlanView | null> {
    const proposed = await this.db.transaction(async (manager) => {
      if (!(await tryAdvisoryXactLock(manager, 'plan', clusterId))) return null;
      if ((await this.migrations.unfinishedComputeCount(manager, clusterId)) > 0) return null;
      const preview = await this.plans.preview(clusterId, {}, manager);
      if (preview.plan.moves.length === 0) return null;
      return this.plans.store(preview, {}, 'scheduler', manager);
    });
    if (!proposed) return null;
    const cluster = await this.db.getRepository(ClusterEntity).findOneByOrFail({ id: clusterId });
    if (cluster.policy.automationLevel !== 'fully-automated') return proposed;
    const { plan } = await this.plans.approve(proposed.id);
    this.logger.log(`cluster ${clusterId}: approved plan ${plan.id} (${plan.plan.moves.length} moves)`);
    return plan;
  }

}
