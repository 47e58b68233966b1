import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { conflict, notFound } from '../common/http-errors.js';
import type { Page } from '../common/query-params.js';
import { PG_UNIQUE_VIOLATION, pgErrorCode } from '../database/pg-errors.js';
import { ClustersService } from '../inventory/clusters.service.js';
import { HostEntity } from '../inventory/entities/host.entity.js';
import { hostView, type HostView } from '../inventory/hosts.service.js';
import { SnapshotsService } from '../inventory/snapshots.service.js';
import { MigrationDispatcher } from '../migrations/migration-dispatcher.js';
import { MigrationsRepository } from '../migrations/migrations.repository.js';
import { type CancelOutcome, MigrationsService } from '../migrations/migrations.service.js';
import type { Plan, Snapshot } from '../planner/snapshot.js';
import { PlansService, type PlanView } from '../plans/plans.service.js';
import { type Evacuation, planEvacuation } from './evacuation.js';
import { EvacuationMoves } from './evacuation-moves.js';
import { MaintenanceSupervisor } from './maintenance-supervisor.js';
import { MaintenanceOperationEntity, type OperationState } from './maintenance.entity.js';
import { MaintenanceRepository } from './maintenance.repository.js';
import { operationView, type OperationView } from './operation-view.js';
import { planReturn } from './return-plan.js';

export const DEFAULT_TIMEOUT_SECONDS = 1800;

export interface EnterOptions {
  includePoweredOff: boolean;
  dryRun: boolean;
  timeoutSeconds: number;
}

export interface EvacuationPreview {
  dryRun: true;
  hostId: string;
  plan: Plan;
  vmsToMove: number;
  memoryToMoveGb: number;
}

export interface ExitResult {
  host: HostView;
  operationId: string | null;
  /** With returnVms: the plan that moves the operation's VMs back (approved), and the VMs left where they are. */
  returnPlan?: PlanView;
  notReturned?: { vmId: string; reason: string }[];
}

/** The operator's commands on maintenance (enter, cancel, retry, exit) and the operations' views. */
@Injectable()
export class MaintenanceService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly clusters: ClustersService,
    private readonly snapshots: SnapshotsService,
    private readonly migrations: MigrationsService,
    private readonly migrationRows: MigrationsRepository,
    private readonly dispatcher: MigrationDispatcher,
    private readonly plans: PlansService,
    private readonly operations: MaintenanceRepository,
    private readonly moves: EvacuationMoves,
    private readonly supervisor: MaintenanceSupervisor,
  ) {}

  /**
   * Admission first: the host's VMs must fit on the rest of the cluster as it will be, or nothing
   * changes (409 with the VMs that do not fit). Then the host goes entering-maintenance and its VMs
   * leave as priority-1 migrations, ahead of any balancing.
   */
  async enter(hostId: string, options: EnterOptions, requestedByKeyId: string | null = null): Promise<OperationView | EvacuationPreview> {
    const outcome = await this.db.transaction(async (manager) => {
      const host = await this.lockedHost(manager, hostId);
      if (host.state === 'maintenance' || host.state === 'entering-maintenance') {
        throw conflict(`host ${hostId} is already ${host.state}`);
      }
      if (host.state === 'failed') {
        throw conflict(
          `host ${hostId} is failed (unreachable): its VMs cannot be live-migrated; restart them on other hosts through HA (vSphere HA-style restart), then remove or repair the host`,
        );
      }
      // Balancing moves into this host would undo the evacuation: they go.
      const cancelled = options.dryRun ? [] : await this.cancelMovesInto(manager, host.clusterId, hostId);
      const snapshot = await this.snapshots.build(host.clusterId, new Date(), manager);
      const evacuation = planEvacuation(snapshot, {
        hostId,
        includePoweredOff: options.includePoweredOff,
        unfinished: await this.migrationRows.unfinishedComputeMoves(manager, host.clusterId),
      });
      if (evacuation.unfit.length > 0) {
        throw conflict(`host ${hostId} cannot be emptied: ${evacuation.unfit.length} of its VMs do not fit on the other hosts`, {
          unfit: evacuation.unfit,
        });
      }
      if (options.dryRun) return { preview: this.preview(snapshot, hostId, evacuation), operation: null, cancelled };
      await manager.update(HostEntity, { id: hostId }, { state: 'entering-maintenance' });
      const operation = manager.create(MaintenanceOperationEntity, {
        clusterId: host.clusterId,
        hostId,
        state: 'evacuating',
        includePoweredOff: options.includePoweredOff,
        timeoutSeconds: options.timeoutSeconds,
        deadline: new Date(Date.now() + options.timeoutSeconds * 1000),
        vmIds: evacuation.leaving,
        reasons: null,
        finishedAt: null,
        exitedAt: null,
        returnPlanId: null,
        requestedByKeyId,
      });
      try {
        await manager.save(operation);
      } catch (error) {
        if (pgErrorCode(error) === PG_UNIQUE_VIOLATION) throw conflict(`host ${hostId} already has a maintenance operation`);
        throw error;
      }
      const plan = await this.moves.start(manager, operation, snapshot, evacuation, 'planned');
      await this.operations.event(manager, operation.id, 'entering', { vms: evacuation.leaving.length, planId: plan?.id ?? null });
      return { preview: null, operation, cancelled };
    });
    await this.migrations.afterCancel(outcome.cancelled);
    if (!outcome.operation) return outcome.preview!;
    void this.dispatcher.request(outcome.operation.clusterId);
    return this.get(outcome.operation.id);
  }

  async list(
    filter: { hostId?: string; clusterId?: string; state?: OperationState },
    page: { limit: number; offset: number },
  ): Promise<Page<OperationView>> {
    const { items, total } = await this.operations.page(filter, page);
    return { items: await this.views(items), total, ...page };
  }

  async get(id: string): Promise<OperationView> {
    const [view] = await this.views([await this.require(id)]);
    return view;
  }

  private async views(operations: MaintenanceOperationEntity[]): Promise<OperationView[]> {
    const facts = await this.operations.facts(operations.map((op) => op.id));
    return operations.map((op) => operationView(op, facts.get(op.id)!));
  }

  /** Stops the queued migrations (running ones finish) and returns the host to connected. */
  async cancel(id: string): Promise<OperationView> {
    const stopped = await this.db.transaction(async (manager) => {
      const op = await this.require(id, manager, true);
      if (op.state === 'completed' || op.state === 'cancelled') throw conflict(`maintenance operation ${id} already ${op.state}`);
      await manager.update(HostEntity, { id: op.hostId }, { state: 'connected' });
      return this.stop(manager, op);
    });
    await this.migrations.afterCancel(stopped);
    return this.get(id);
  }

  /** A stalled operation tries again, with a new deadline. */
  async retry(id: string): Promise<OperationView> {
    await this.db.transaction(async (manager) => {
      const op = await this.require(id, manager, true);
      if (op.state !== 'stalled') throw conflict(`maintenance operation ${id} is ${op.state}; only a stalled one can be retried`);
      op.state = 'evacuating';
      op.deadline = new Date(Date.now() + op.timeoutSeconds * 1000);
      op.reasons = null;
      await manager.save(op);
      await this.operations.event(manager, op.id, 'retried', { deadline: op.deadline.toISOString() });
    });
    await this.supervisor.supervise(id);
    return this.get(id);
  }

  /**
   * Back to connected. With `returnVms`, the VMs that the last operation moved away go back (those
   * still where it put them, where the move is valid now), as a recorded plan.
   */
  async exit(hostId: string, returnVms: boolean, requestedByKeyId: string | null = null): Promise<ExitResult> {
    const result = await this.db.transaction(async (manager) => {
      const host = await this.lockedHost(manager, hostId);
      if (host.state !== 'maintenance' && host.state !== 'entering-maintenance') {
        throw conflict(`host ${hostId} is ${host.state}, not in maintenance`);
      }
      const last = await this.operations.latestOfHost(manager, hostId);
      const stopped = last && (last.state === 'evacuating' || last.state === 'stalled') ? await this.stop(manager, last) : [];
      await manager.update(HostEntity, { id: hostId }, { state: 'connected' });
      if (last) {
        await manager.update(MaintenanceOperationEntity, { id: last.id }, { exitedAt: new Date() });
        await this.operations.event(manager, last.id, 'exited', { returnVms });
      }
      const exit: ExitResult = { host: hostView({ ...host, state: 'connected' }), operationId: last?.id ?? null };
      if (returnVms && last) Object.assign(exit, await this.planReturn(manager, last, requestedByKeyId));
      return { exit, stopped };
    });
    await this.migrations.afterCancel(result.stopped);
    void this.dispatcher.request(result.exit.host.clusterId);
    return result.exit;
  }

  /** Ends an operation early: its migrations not yet started are cancelled, running ones finish. */
  private async stop(manager: EntityManager, op: MaintenanceOperationEntity): Promise<CancelOutcome[]> {
    const waiting = await this.migrationRows.notStartedOfOperation(manager, op.id);
    const outcomes: CancelOutcome[] = [];
    for (const m of waiting) outcomes.push(await this.migrations.cancelWithin(manager, m, `the maintenance operation's cancellation`));
    op.state = 'cancelled';
    op.finishedAt = new Date();
    await manager.save(op);
    await this.operations.event(manager, op.id, 'cancelled', { stoppedMigrations: waiting.length });
    return outcomes;
  }

  /** Pending and queued balancing moves into the host are cancelled; running ones are asked to stop. */
  private async cancelMovesInto(manager: EntityManager, clusterId: string, hostId: string): Promise<CancelOutcome[]> {
    const incoming = await this.migrationRows.unfinishedComputeInto(manager, clusterId, hostId);
    const outcomes: CancelOutcome[] = [];
    for (const m of incoming) outcomes.push(await this.migrations.cancelWithin(manager, m, `host ${hostId} entering maintenance`));
    return outcomes;
  }

  private preview(snapshot: Snapshot, hostId: string, evacuation: Evacuation): EvacuationPreview {
    const memory = new Map(snapshot.vms.map((vm) => [vm.id, vm.memoryMb]));
    const moving = evacuation.moves.filter((m) => m.fromHostId === hostId);
    return {
      dryRun: true,
      hostId,
      plan: { version: 1, clusterId: snapshot.cluster.id, moves: evacuation.moves, imbalanceBefore: 0, imbalanceAfter: 0, unresolved: [] },
      vmsToMove: moving.length,
      memoryToMoveGb: Math.round((moving.reduce((sum, m) => sum + (memory.get(m.vmId) ?? 0), 0) / 1024) * 100) / 100,
    };
  }

  /** The return plan: each VM the operation moved, back to this host, if it is still where it went and the move is valid. */
  private async planReturn(
    manager: EntityManager,
    op: MaintenanceOperationEntity,
    requestedByKeyId: string | null,
  ): Promise<Pick<ExitResult, 'returnPlan' | 'notReturned'>> {
    const moved = await this.migrationRows.lastSucceededOfOperation(manager, op.id);
    const snapshot = await this.snapshots.build(op.clusterId, new Date(), manager);
    const { moves: accepted, notReturned } = planReturn(snapshot, op.hostId, moved);
    if (accepted.length === 0) return { notReturned };
    const note = { reason: `return of VMs to ${op.hostId}`, operationId: op.id };
    const returnPlan = await this.plans.record(manager, snapshot, accepted, 'maintenance', note, requestedByKeyId);
    const planned = accepted.map((move, moveIndex) => ({ move, moveIndex }));
    await this.migrations.createFromMoves(manager, op.clusterId, returnPlan.id, planned, null, requestedByKeyId);
    await manager.update(MaintenanceOperationEntity, { id: op.id }, { returnPlanId: returnPlan.id });
    return { returnPlan, notReturned };
  }

  private async lockedHost(manager: EntityManager, hostId: string): Promise<HostEntity> {
    const host = await manager.findOneBy(HostEntity, { id: hostId });
    if (!host) throw notFound('host', hostId);
    // One maintenance decision at a time per cluster: admissions see each other's hosts as gone.
    await this.clusters.require(host.clusterId, manager, true);
    return (await manager.findOneBy(HostEntity, { id: hostId }))!;
  }

  private async require(id: string, manager: EntityManager = this.db.manager, lock = false): Promise<MaintenanceOperationEntity> {
    const op = await this.operations.find(id, manager, lock);
    if (!op) throw notFound('maintenance operation', id);
    return op;
  }
}
