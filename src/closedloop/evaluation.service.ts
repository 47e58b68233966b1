import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { tryAdvisoryXactLock } from '../database/advisory-locks.js';
import { SnapshotsService } from '../inventory/snapshots.service.js';
import { MigrationDispatcher } from '../migrations/migration-dispatcher.js';
import { MigrationsRepository } from '../migrations/migrations.repository.js';
import { type CancelOutcome, MigrationsService } from '../migrations/migrations.service.js';
import { NotificationsService } from '../notifications/notifications.service.js';
import type { Move, Policy, Snapshot } from '../planner/snapshot.js';
import { PlansService } from '../plans/plans.service.js';
import { DAY_MS, type MoveRecord } from './anti-thrash.js';
import { CLOCK, type Clock } from './clock.js';
import { nextCronTime } from './cron.js';
import { isHeld } from './detection.js';
import { evaluate } from './evaluate.js';
import { windowView } from './evaluation-view.js';
import { EvaluationsRepository } from './evaluations.repository.js';
import { HaService } from './ha.service.js';
import { placeInFlight } from './in-flight.js';
import { loopPolicy } from './loop-policy.js';

export interface EvaluationOutcome {
  clusterId: string;
  /** locked: another scheduler evaluates the cluster right now. */
  outcome: 'evaluated' | 'locked' | 'gone' | 'not-due';
  summary: string;
  started: number;
  /** HA restarts of down VMs started by this evaluation. */
  restarts: number;
  recommended: number;
  planId: string | null;
  /** In how long the cluster is due again because a detection's hold time runs out then (before its schedule). */
  holdEndsInMs?: number;
}

/**
 * One evaluation of a cluster, by its policy (DRS automation levels): fully automated, every move
 * the closed loop admits starts; partially automated, only the priority-1 ones (the rest is
 * recommended); manual, everything is recommended. The recommendation is one open plan, refreshed.
 * Migrations in flight stay where they are going: the evaluation plans around them.
 */
@Injectable()
export class EvaluationService {
  private readonly logger = new Logger(EvaluationService.name);

  constructor(
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
    @Inject(CLOCK) private readonly clock: Clock,
    @InjectDataSource() private readonly db: DataSource,
    private readonly snapshots: SnapshotsService,
    private readonly migrationRows: MigrationsRepository,
    private readonly migrations: MigrationsService,
    private readonly dispatcher: MigrationDispatcher,
    private readonly plans: PlansService,
    private readonly evaluations: EvaluationsRepository,
    private readonly notifications: NotificationsService,
    private readonly ha: HaService,
  ) {}

  /** `onlyIfDue`: skip when another scheduler has evaluated the cluster since it was found due. */
  async evaluate(clusterId: string, onlyIfDue = false): Promise<EvaluationOutcome> {
    const cancelled: CancelOutcome[] = [];
    const outcome = await this.db.transaction(async (manager): Promise<EvaluationOutcome> => {
      const none = { clusterId, started: 0, restarts: 0, recommended: 0, planId: null };
      if (!(await tryAdvisoryXactLock(manager, 'plan', clusterId))) return { ...none, outcome: 'locked', summary: 'another scheduler is evaluating the cluster' };
      const now = this.clock.now();
      const inFlight = async (built: Snapshot) => placeInFlight(built, await this.migrationRows.unfinishedComputeMoves(manager, clusterId));
      const read = async () => inFlight(await this.snapshots.build(clusterId, now, manager));
      const built = await this.snapshots.buildIfExists(clusterId, now, manager);
      if (!built) return { ...none, outcome: 'gone', summary: 'the cluster no longer exists' };
      let snapshot = await inFlight(built);
      const state = await this.evaluations.get(clusterId, manager);
      if (onlyIfDue && state?.nextAt && new Date(state.nextAt).getTime() > now.getTime()) {
        return { ...none, outcome: 'not-due', summary: 'evaluated by another scheduler since it was found due' };
      }
      // HA first (failed hosts, their down VMs restarted): the evaluation then plans the cluster as HA leaves it.
      const ha = await this.ha.detect(manager, snapshot, now);
      if (ha.changed) snapshot = await read();
      await this.ha.restart(manager, snapshot, now, ha);
      if (ha.restarts > 0 || ha.changed) snapshot = await read();
      cancelled.push(...ha.cancelled);
      const history: MoveRecord[] = (await this.migrationRows.moveHistory(manager, clusterId, new Date(now.getTime() - DAY_MS))).map((m) => ({
        vmId: m.vmId,
        fromHostId: m.fromHostId,
        toHostId: m.toHostId,
        at: new Date(m.at).getTime(),
        mandatory: m.priority === 1,
      }));
      const started = performance.now();
      const result = evaluate({ snapshot, now: now.getTime(), previous: state?.detections ?? [], history });
      const planningMs = performance.now() - started;

      const level = snapshot.policy.automationLevel;
      const automatic = level === 'fully-automated' ? result.moves : level === 'partially-automated' ? priorityOnePrefix(result.moves) : [];
      const recommend = result.moves.slice(automatic.length);
      let planId: string | null = null;
      if (automatic.length > 0) {
        const plan = await this.plans.record(manager, snapshot, automatic, 'scheduler', { evaluation: result.summary, trace: result.plan.trace });
        await this.migrations.createFromMoves(manager, clusterId, plan.id, automatic.map((move, moveIndex) => ({ move, moveIndex })));
        planId = plan.id;
      }
      const preview = { ...result.plan, snapshot, planningMs };
      const recommendation = await this.plans.refreshRecommendation(manager, preview, recommend, result.summary);
      if (recommendation.created && recommendation.plan) {
        const { plan } = recommendation.plan;
        await this.notifications.notify(
          'recommendation.proposed',
          { clusterId, planId: recommendation.plan.id, moves: plan.moves.length, imbalanceBefore: plan.imbalanceBefore, imbalanceAfter: plan.imbalanceAfter },
          manager,
        );
      }
      const loop = loopPolicy(snapshot.policy);
      const summary = [...ha.summary, describeAction(result.summary, level, automatic.length, recommend.length)].join('; ');
      const holdsEndAt = result.detections.filter((d) => !isHeld(d, loop.holdMs, now.getTime())).map((d) => d.since + loop.holdMs);
      const nextAt = new Date(this.nextEvaluation(snapshot.policy, now.getTime(), holdsEndAt));
      const forHold = holdsEndAt.some((at) => Math.max(at, now.getTime() + 1000) === nextAt.getTime());
      await this.evaluations.save(manager, {
        clusterId,
        detections: result.detections,
        evaluatedAt: now,
        nextAt,
        summary,
        movesStarted: automatic.length,
        recommended: recommend.length,
        planId: planId ?? recommendation.plan?.id ?? null,
        held: [...result.held.values()],
        budget: result.budget,
        changeWindow: windowView(result.window),
        outcome: result.decision,
        imbalance: result.plan.plan.imbalanceBefore,
      });
      return { clusterId, outcome: 'evaluated', summary, started: automatic.length, restarts: ha.restarts, recommended: recommend.length, planId: planId ?? recommendation.plan?.id ?? null, ...(forHold ? { holdEndsInMs: nextAt.getTime() - now.getTime() } : {}) };
    });
    if (cancelled.length > 0) await this.migrations.afterCancel(cancelled);
    if (outcome.started > 0 || outcome.restarts > 0 || cancelled.length > 0) {
      this.logger.log({ msg: `cluster ${clusterId}: ${outcome.summary}`, clusterId, planId: outcome.planId });
      void this.dispatcher.request(clusterId);
    } else if (outcome.outcome === 'evaluated' || outcome.outcome === 'locked') {
      // Why nothing started, as the status says it: an operator reading the log need not ask the API.
      this.logger.log({ msg: `cluster ${clusterId}: ${outcome.summary}`, clusterId, ...(outcome.planId ? { planId: outcome.planId } : {}) });
    }
    return outcome;
  }

  /** The policy's next scheduled time, or sooner when an open detection's hold time runs out before it. */
  nextEvaluation(policy: Policy, now: number, holdsEndAt: number[]): number {
    const loop = loopPolicy(policy);
    const intervalMs = policy.evaluationIntervalMinutes !== undefined ? loop.intervalMs : this.config.BALANCE_INTERVAL_SECONDS * 1000 || loop.intervalMs;
    const scheduled = loop.cron !== null ? (nextCronTime(loop.cron, now) ?? now + DAY_MS) : now + intervalMs;
    return Math.min(scheduled, ...holdsEndAt.map((at) => Math.max(at, now + 1000)));
  }
}

/** Mandatory moves come first in a plan, so its priority-1 moves are a valid prefix. */
function priorityOnePrefix(moves: readonly Move[]): Move[] {
  const out: Move[] = [];
  for (const m of moves) {
    if (m.priority !== 1) break;
    out.push(m);
  }
  return out;
}

function describeAction(summary: string, level: Policy['automationLevel'], started: number, recommended: number): string {
  const parts = [summary];
  if (started > 0) parts.push(`started ${started} migration${started === 1 ? '' : 's'}`);
  if (recommended > 0) {
    const why = level === 'manual' ? 'the cluster is manual' : 'partially automated: only priority-1 moves run by themselves';
    parts.push(`recommended ${recommended} move${recommended === 1 ? '' : 's'} for an operator to approve (${why})`);
  }
  return parts.join('; ');
}
