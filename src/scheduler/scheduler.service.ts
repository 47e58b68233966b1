import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { tryAdvisoryXactLock } from '../database/advisory-locks.js';
import { ClusterEntity } from '../inventory/entities/cluster.entity.js';
import { MigrationDispatcher } from '../migrations/migration-dispatcher.js';
import { MigrationsRepository } from '../migrations/migrations.repository.js';
import { thresholdLevel } from '../planner/thresholds.js';
import { NotificationsService } from '../notifications/notifications.service.js';
import { PlansService, type PlanView } from '../plans/plans.service.js';
import { every } from './every.js';
import { type PlanningRun, PlanningRunsRepository } from './planning-runs.repository.js';

const DISPATCH_EVERY_MS = 2000;
const REQUEUE_EVERY_MS = 10000;

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
    private readonly runs: PlanningRunsRepository,
    private readonly notifications: NotificationsService,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.BALLAST_ROLES.has('scheduler')) return;
    every(this.registry, this.logger, 'dispatch', DISPATCH_EVERY_MS, () => this.dispatchPending());
    every(this.registry, this.logger, 'requeue', REQUEUE_EVERY_MS, async () => {
      const requeued = await this.dispatcher.requeueOrphans();
      if (requeued > 0) this.logger.warn(`put ${requeued} migrations back on the queue (their jobs were gone)`);
    });
    // Balancing on a schedule is the closed loop's (src/closedloop: evaluation jobs per cluster).
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
   * returns the stored plan (approved when the cluster is fully automated), or null. What the run
   * decided, and why when it did nothing, is recorded (the cluster's status shows it) and logged.
   */
  async balance(clusterId: string): Promise<PlanView | null> {
    const at = new Date();
    const outcome = (run: Omit<PlanningRun, 'clusterId' | 'at' | 'planId' | 'moves'> & Partial<PlanningRun>): PlanningRun => ({
      clusterId,
      at,
      planId: null,
      moves: 0,
      ...run,
    });
    let run: PlanningRun;
    let result: PlanView | null = null;
    try {
      const decided = await this.db.transaction(async (manager) => {
        if (!(await tryAdvisoryXactLock(manager, 'plan', clusterId))) {
          return { run: outcome({ outcome: 'locked', reason: 'another scheduler holds the planning lock of the cluster', imbalance: null }) };
        }
        const busy = await this.migrations.unfinishedComputeCount(manager, clusterId);
        if (busy > 0) return { run: outcome({ outcome: 'migrations-in-progress', reason: `${busy} migrations of the cluster are still in progress`, imbalance: null }) };
        const preview = await this.plans.preview(clusterId, {}, manager);
        const imbalance = preview.plan.imbalanceBefore;
        if (preview.plan.moves.length === 0) return { run: nothingToDo(preview.snapshot.policy.migrationThreshold, imbalance, outcome) };
        const stored = await this.plans.store(preview, {}, 'scheduler', manager);
        if (preview.snapshot.policy.automationLevel !== 'fully-automated') {
          // With the plan, in its transaction: a recommendation is never stored without its notification.
          const { moves, imbalanceBefore, imbalanceAfter } = stored.plan;
          await this.notifications.notify('recommendation.proposed', { clusterId, planId: stored.id, moves: moves.length, imbalanceBefore, imbalanceAfter }, manager);
        }
        return { run: null, proposed: stored };
      });
      if (decided.run) {
        run = decided.run;
      } else {
        const proposed = decided.proposed!;
        const cluster = await this.db.getRepository(ClusterEntity).findOneByOrFail({ id: clusterId });
        const automatic = cluster.policy.automationLevel === 'fully-automated';
        result = automatic ? (await this.plans.approve(proposed.id)).plan : proposed;
        run = outcome({
          outcome: 'planned',
          reason: `plan ${proposed.id}: ${proposed.plan.moves.length} moves, ${automatic ? 'approved' : 'proposed for an operator to approve'}`,
          planId: proposed.id,
          moves: proposed.plan.moves.length,
          imbalance: proposed.plan.imbalanceBefore,
        });
      }
    } catch (error) {
      run = outcome({ outcome: 'failed', reason: (error as Error).message, imbalance: null });
      await this.runs.record(run);
      throw error;
    }
    await this.runs.record(run);
    this.logger.log({
      msg: `cluster ${clusterId}: ${run.outcome === 'planned' ? '' : `no plan (${run.outcome}): `}${run.reason}`,
      clusterId,
      ...(run.planId ? { planId: run.planId } : {}),
    });
    return result;
  }
}

/** Why a plan without moves has none: balance is good enough, or nothing that would help pays for itself. */
function nothingToDo(
  threshold: number,
  imbalance: number,
  outcome: (run: Pick<PlanningRun, 'outcome' | 'reason' | 'imbalance'>) => PlanningRun,
): PlanningRun {
  const target = thresholdLevel(threshold).targetImbalance;
  const shown = imbalance.toFixed(4);
  if (target === null) return outcome({ outcome: 'below-target', reason: `threshold ${threshold} does not balance, and nothing must move (imbalance ${shown})`, imbalance });
  if (imbalance <= target) return outcome({ outcome: 'below-target', reason: `imbalance ${shown} is at or below the target ${target}`, imbalance });
  return outcome({ outcome: 'no-move-pays', reason: `imbalance ${shown} is above the target ${target}, but no move pays for itself`, imbalance });
}
