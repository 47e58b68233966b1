import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { badRequest, conflict, notFound } from '../common/http-errors.js';
import { isUuid, type Page } from '../common/query-params.js';
import { ClustersService } from '../inventory/clusters.service.js';
import { SnapshotsService } from '../inventory/snapshots.service.js';
import { placeInFlight } from '../closedloop/in-flight.js';
import { advisoryXactLock } from '../database/advisory-locks.js';
import { MigrationDispatcher } from '../migrations/migration-dispatcher.js';
import { MigrationsService } from '../migrations/migrations.service.js';
import { MigrationsRepository } from '../migrations/migrations.repository.js';
import { applyMoves, plan, type PlanOptions, type PlanResult, referenceImbalance } from '../planner/index.js';
import type { HostState, Move, Plan, Snapshot } from '../planner/snapshot.js';
import { PlanEntity, type PlanSource, type PlanStatus } from './plan.entity.js';
import { type RefusedMove, approvableMoves } from './approvable-moves.js';

export interface PlanView {
  id: string;
  clusterId: string;
  status: PlanStatus;
  source: PlanSource;
  threshold: number;
  snapshotTakenAt: Date;
  createdAt: Date;
  decidedAt: Date | null;
  approvedMoves: number[] | null;
  /** The API key that asked for the plan, and the one that approved it (null: Ballast itself, or an open API). */
  requestedByKeyId: string | null;
  approvedByKeyId: string | null;
  plan: Plan;
  trace?: unknown;
}

/** A plan made now, with the snapshot it was made from and how long the planner took (for /metrics). */
export type Preview = PlanResult & { snapshot: Snapshot; planningMs: number };

export interface Approval {
  plan: PlanView;
  /** One per move approved now, in plan order. */
  migrationIds: string[];
  /** Chosen moves not valid on the cluster as it is now, with the reason. */
  refused: RefusedMove[];
  /** Chosen moves that an earlier step approved already. */
  alreadyApproved: number[];
}

/** Decides a proposed plan: approved with the moves approved so far, or rejected if there are none. */
function settle(entity: PlanEntity): void {
  entity.status = (entity.approvedMoves?.length ?? 0) > 0 ? 'approved' : 'rejected';
  entity.decidedAt = new Date();
}

function view(entity: PlanEntity, withTrace: boolean): PlanView {
  return {
    id: entity.id,
    clusterId: entity.clusterId,
    status: entity.status,
    source: entity.source,
    threshold: entity.threshold,
    snapshotTakenAt: entity.snapshotTakenAt,
    createdAt: entity.createdAt,
    decidedAt: entity.decidedAt,
    approvedMoves: entity.approvedMoves,
    requestedByKeyId: entity.requestedByKeyId,
    approvedByKeyId: entity.approvedByKeyId,
    plan: {
      version: 1,
      clusterId: entity.clusterId,
      moves: entity.moves,
      imbalanceBefore: entity.imbalanceBefore,
      imbalanceAfter: entity.imbalanceAfter,
      unresolved: entity.unresolved,
    },
    ...(withTrace ? { trace: entity.trace } : {}),
  };
}

@Injectable()
export class PlansService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly clusters: ClustersService,
    private readonly snapshots: SnapshotsService,
    private readonly migrations: MigrationsService,
    private readonly migrationRows: MigrationsRepository,
    private readonly dispatcher: MigrationDispatcher,
  ) {}

  /** What the planner proposes for the cluster as it is now (read in `manager`'s transaction when given). */
  async preview(clusterId: string, options: PlanOptions, manager?: EntityManager): Promise<Preview> {
    const snapshot = await this.snapshots.build(clusterId, new Date(), manager);
    const started = performance.now();
    const result = plan(snapshot, options);
    return { ...result, snapshot, planningMs: performance.now() - started };
  }

  async create(
    clusterId: string,
    options: PlanOptions,
    source: PlanSource,
    manager: EntityManager = this.db.manager,
    requestedByKeyId: string | null = null,
  ): Promise<PlanView> {
    return this.store(await this.preview(clusterId, options, manager), options, source, manager, requestedByKeyId);
  }

  /** Stores a previewed plan as `proposed`, with the host states it was made for. */
  async store(
    preview: Preview,
    options: PlanOptions,
    source: PlanSource,
    manager: EntityManager = this.db.manager,
    requestedByKeyId: string | null = null,
  ): Promise<PlanView> {
    const { plan: result, trace, snapshot, planningMs } = preview;
    const entity = manager.create(PlanEntity, {
      ...this.basis(snapshot),
      status: 'proposed',
      planningMs,
      source,
      threshold: options.threshold ?? snapshot.policy.migrationThreshold,
      imbalanceBefore: result.imbalanceBefore,
      imbalanceAfter: result.imbalanceAfter,
      moves: result.moves,
      unresolved: result.unresolved,
      trace,
      approvedMoves: null,
      decidedAt: null,
      requestedByKeyId,
      approvedByKeyId: null,
    });
    return view(await manager.save(entity), true);
  }

  /**
   * Records moves that Ballast decided without the balancer (a maintenance evacuation, VMs going
   * back after it) as an approved plan, so that every migration belongs to a plan in the history.
   * The key that asked for the moves (started the maintenance) both requested and approved it.
   */
  async record(
    manager: EntityManager,
    snapshot: Snapshot,
    moves: Move[],
    source: PlanSource,
    note: Record<string, unknown>,
    requestedByKeyId: string | null = null,
  ): Promise<PlanView> {
    const entity = manager.create(PlanEntity, {
      ...this.basis(snapshot),
      status: 'approved',
      source,
      threshold: snapshot.policy.migrationThreshold,
      imbalanceBefore: referenceImbalance(snapshot),
      imbalanceAfter: referenceImbalance(applyMoves(snapshot, moves)),
      moves,
      unresolved: [],
      trace: note,
      approvedMoves: moves.map((_, i) => i),
      decidedAt: new Date(),
      requestedByKeyId,
      approvedByKeyId: requestedByKeyId,
    });
    return view(await manager.save(entity), false);
  }

  /**
   * The scheduler's one open recommendation of a cluster, refreshed: the proposed plan it made last
   * gets these moves (and the snapshot they were made from) instead of a new plan per evaluation;
   * with no moves it is withdrawn (rejected). Returns the plan and whether it is new.
   */
  async refreshRecommendation(
    manager: EntityManager,
    preview: Preview,
    moves: Move[],
    note: string,
  ): Promise<{ plan: PlanView | null; created: boolean }> {
    const clusterId = preview.snapshot.cluster.id;
    const open = await manager.findOne(PlanEntity, {
      where: { clusterId, status: 'proposed', source: 'scheduler' },
      order: { createdAt: 'DESC' },
      lock: { mode: 'pessimistic_write' },
    });
    // A recommendation approved in part keeps its moves (its migrations point at them): what it
    // has not approved is withdrawn, and the moves planned now form a new recommendation.
    const approvedInPart = open !== null && (open.approvedMoves?.length ?? 0) > 0;
    if (open && (moves.length === 0 || approvedInPart)) {
      settle(open);
      const why = moves.length === 0 ? note : `superseded by a newer recommendation (${note})`;
      open.trace = { ...(open.trace as object), withdrawn: `withdrawn by the scheduler: ${why}` };
      await manager.save(open);
    }
    if (moves.length === 0) return { plan: null, created: false };
    const kept = approvedInPart ? null : open;
    const entity =
      kept ??
      manager.create(PlanEntity, { status: 'proposed', source: 'scheduler', approvedMoves: null, decidedAt: null, requestedByKeyId: null, approvedByKeyId: null });
    Object.assign(entity, {
      ...this.basis(preview.snapshot),
      planningMs: preview.planningMs,
      threshold: preview.snapshot.policy.migrationThreshold,
      imbalanceBefore: preview.plan.imbalanceBefore,
      imbalanceAfter: referenceImbalance(applyMoves(preview.snapshot, moves)),
      moves,
      unresolved: preview.plan.unresolved,
      trace: { ...preview.trace, evaluation: note },
    });
    return { plan: view(await manager.save(entity), false), created: !kept };
  }

  /** What a plan was made from: the cluster, the snapshot's time and its hosts' states. */
  private basis(snapshot: Snapshot): Pick<PlanEntity, 'clusterId' | 'snapshotTakenAt' | 'hostStates'> {
    return {
      clusterId: snapshot.cluster.id,
      snapshotTakenAt: new Date(snapshot.takenAt!),
      hostStates: Object.fromEntries(snapshot.hosts.map((h) => [h.id, h.state])) as Record<string, HostState>,
    };
  }

  async list(filter: { clusterId?: string; status?: PlanStatus }, page: { limit: number; offset: number }): Promise<Page<PlanView>> {
    const [plans, total] = await this.db.getRepository(PlanEntity).findAndCount({
      where: { ...(filter.clusterId ? { clusterId: filter.clusterId } : {}), ...(filter.status ? { status: filter.status } : {}) },
      order: { createdAt: 'DESC' },
      take: page.limit,
      skip: page.offset,
    });
    return { items: plans.map((p) => view(p, false)), total, ...page };
  }

  async get(id: string): Promise<PlanView> {
    return view(await this.require(id), true);
  }

  /**
   * Approves the chosen moves (indexes into the plan's moves; default: every move not approved
   * yet), in one step or several: each step is checked against the cluster as it is then, with the
   * unfinished migrations counted where they take their VMs. The moves valid now become pending
   * migrations; those that are not are refused with the reason (409 when none is valid), and moves
   * approved by an earlier step are listed, not approved twice. The plan stays proposed until each
   * of its moves is approved (or the rest is rejected). The migrations record the approving key.
   */
  async approve(id: string, chosen?: number[], approvedByKeyId: string | null = null): Promise<Approval> {
    const approval = await this.db.transaction(async (manager) => {
      // The balancer's lock before the plan's row, in the order an evaluation takes them.
      await advisoryXactLock(manager, 'plan', (await this.require(id, manager)).clusterId);
      const entity = await this.require(id, manager, true);
      if (entity.status !== 'proposed') throw conflict(`plan ${id} is ${entity.status}, only a proposed plan can be approved`);
      const approved = entity.approvedMoves ?? [];
      const indexes = chosen ?? entity.moves.map((_, i) => i).filter((i) => !approved.includes(i));
      indexes.forEach((index, i) => {
        if (index >= entity.moves.length) throw badRequest(`body.moves[${i}]`, `plan ${id} has ${entity.moves.length} moves, there is no move ${index}`);
      });
      await this.clusters.require(entity.clusterId, manager, true);
      const unfinished = await this.migrationRows.unfinishedCompute(manager, entity.clusterId, true);
      const current = placeInFlight(
        await this.snapshots.build(entity.clusterId, new Date(), manager),
        unfinished.map((u) => u.move),
      );
      const migrating = new Map(unfinished.map((u) => [u.move.vmId, u.migrationId]));
      const { accepted, refused, alreadyApproved } = approvableMoves(entity.moves, indexes, approved, migrating, current);
      if (accepted.length === 0) {
        if (refused.length === 0) {
          const which = alreadyApproved.length === 1 ? `move ${alreadyApproved[0]} is` : `moves ${alreadyApproved.join(', ')} are`;
          throw conflict(`plan ${id}: ${which} approved already`, { alreadyApproved });
        }
        const first = refused[0];
        throw conflict(`plan ${id}: move ${first.index} (${first.vmId}) is not valid now: ${first.reason}`, { problems: refused, alreadyApproved });
      }
      const migrationIds = await this.migrations.createFromMoves(
        manager,
        entity.clusterId,
        entity.id,
        accepted.map((moveIndex) => ({ move: entity.moves[moveIndex], moveIndex })),
        null,
        approvedByKeyId,
        unfinished,
      );
      entity.approvedMoves = [...approved, ...accepted].sort((a, b) => a - b);
      entity.approvedByKeyId = approvedByKeyId;
      if (entity.approvedMoves.length === entity.moves.length) {
        entity.status = 'approved';
        entity.decidedAt = new Date();
      }
      await manager.save(entity);
      return { plan: view(entity, false), migrationIds, refused, alreadyApproved };
    });
    void this.dispatcher.request(approval.plan.clusterId);
    return approval;
  }

  /**
   * Rejects the moves not approved yet: a plan none of whose moves was approved ends rejected; one
   * approved in part ends approved with the moves it had (`approvedMoves`), the rest rejected.
   */
  async reject(id: string): Promise<PlanView> {
    return this.db.transaction(async (manager) => {
      const entity = await this.require(id, manager, true);
      if (entity.status !== 'proposed') throw conflict(`plan ${id} is ${entity.status}, only a proposed plan can be rejected`);
      settle(entity);
      return view(await manager.save(entity), false);
    });
  }

  private async require(id: string, manager: EntityManager = this.db.manager, lock = false): Promise<PlanEntity> {
    if (!isUuid(id)) throw notFound('plan', id);
    const entity = await manager.findOne(PlanEntity, { where: { id }, lock: lock ? { mode: 'pessimistic_write' } : undefined });
    if (!entity) throw notFound('plan', id);
    return entity;
  }
}
