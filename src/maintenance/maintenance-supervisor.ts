import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { tryAdvisoryXactLock } from '../database/advisory-locks.js';
import { HostEntity } from '../inventory/entities/host.entity.js';
import { SnapshotsService } from '../inventory/snapshots.service.js';
import { MigrationDispatcher } from '../migrations/migration-dispatcher.js';
import { MigrationsRepository } from '../migrations/migrations.repository.js';
import { NotificationsService } from '../notifications/notifications.service.js';
import { every } from '../scheduler/every.js';
import { planEvacuation } from './evacuation.js';
import { EvacuationMoves } from './evacuation-moves.js';
import type { MaintenanceOperationEntity } from './maintenance.entity.js';
import { MaintenanceRepository } from './maintenance.repository.js';
import { stallReasons } from './stall-reasons.js';

const SUPERVISE_EVERY_MS = 1000;
/** A VM whose migrations failed this many times for one operation is not tried again. */
export const ATTEMPTS_PER_VM = 3;

/**
 * The scheduler role watches every maintenance operation: done when the host has nothing left to
 * move, VMs whose migration failed planned again elsewhere, and past the deadline, stalled.
 */
@Injectable()
export class MaintenanceSupervisor implements OnApplicationBootstrap {
  private readonly logger = new Logger(MaintenanceSupervisor.name);

  constructor(
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
    @InjectDataSource() private readonly db: DataSource,
    private readonly registry: SchedulerRegistry,
    private readonly operations: MaintenanceRepository,
    private readonly migrations: MigrationsRepository,
    private readonly snapshots: SnapshotsService,
    private readonly moves: EvacuationMoves,
    private readonly dispatcher: MigrationDispatcher,
    private readonly notifications: NotificationsService,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.BALLAST_ROLES.has('scheduler')) return;
    every(this.registry, this.logger, 'maintenance', SUPERVISE_EVERY_MS, () => this.tick());
  }

  async tick(): Promise<void> {
    for (const id of await this.operations.activeIds()) {
      await this.supervise(id).catch((error: Error) => this.logger.error(`operation ${id}: ${error.message}`));
    }
    await this.settleEmptiedHosts().catch((error: Error) => this.logger.error(`hosts entering maintenance: ${error.message}`));
  }

  /** A host in entering-maintenance without an operation (imported so) is in maintenance once empty. */
  async settleEmptiedHosts(): Promise<void> {
    await this.db.transaction(async (manager) => {
      for (const host of await this.operations.emptiedWithoutOperation(manager)) {
        const { affected } = await manager.update(HostEntity, { id: host.id, state: 'entering-maintenance' }, { state: 'maintenance' });
        if (affected) this.logger.log({ msg: `host ${host.id} is in maintenance (empty)`, clusterId: host.clusterId, hostId: host.id });
      }
    });
  }

  /** One look at an operation (one process at a time: the others skip it). */
  async supervise(id: string): Promise<void> {
    const clusterToDispatch = await this.db.transaction(async (manager) => {
      if (!(await tryAdvisoryXactLock(manager, 'maintenance', id))) return null;
      const op = await this.operations.find(id, manager, true);
      if (!op || (op.state !== 'evacuating' && op.state !== 'stalled')) return null;
      const remaining = await this.migrations.vmsOnHost(manager, op.hostId, op.includePoweredOff);
      if (remaining.length === 0) {
        await this.finish(manager, op);
        return null;
      }
      const idle = remaining.filter((vm) => !vm.unfinished).map((vm) => vm.id);
      if (idle.length === 0 || op.state === 'stalled') return null;
      const roundStart = new Date(op.deadline.getTime() - op.timeoutSeconds * 1000);
      const attempts = await this.migrations.unsuccessfulTargetsOfOperation(manager, op.id, roundStart);
      const retryable = idle.filter((vmId) => (attempts.get(vmId)?.length ?? 0) < ATTEMPTS_PER_VM);
      const unfit = new Map<string, string>();
      if (retryable.length > 0) {
        const snapshot = await this.snapshots.build(op.clusterId, new Date(), manager);
        const evacuation = planEvacuation(snapshot, {
          hostId: op.hostId,
          includePoweredOff: op.includePoweredOff,
          unfinished: await this.migrations.unfinishedComputeMoves(manager, op.clusterId),
          onlyVms: new Set(retryable),
          avoid: new Map(retryable.map((vmId) => [vmId, attempts.get(vmId) ?? []])),
        });
        if (evacuation.moves.length > 0) await this.moves.start(manager, op, snapshot, evacuation, 'retry-planned');
        for (const u of evacuation.unfit) unfit.set(u.vmId!, u.reason);
      }
      if (Date.now() >= op.deadline.getTime()) {
        const lastError = await this.migrations.lastErrorsOfOperation(manager, op.id);
        await this.stall(manager, op, stallReasons(idle, { attempts, lastError, unfit }));
      }
      return op.clusterId;
    });
    if (clusterToDispatch) void this.dispatcher.request(clusterToDispatch);
  }

  private async finish(manager: EntityManager, op: MaintenanceOperationEntity): Promise<void> {
    op.state = 'completed';
    op.finishedAt = new Date();
    op.reasons = null;
    await manager.save(op);
    await manager.update(HostEntity, { id: op.hostId }, { state: 'maintenance' });
    await this.operations.event(manager, op.id, 'completed', { hostState: 'maintenance' });
    this.logger.log({ msg: `host ${op.hostId} is in maintenance`, clusterId: op.clusterId, hostId: op.hostId, operationId: op.id });
  }

  private async stall(manager: EntityManager, op: MaintenanceOperationEntity, reasons: { vmId: string; reason: string }[]): Promise<void> {
    op.reasons = reasons;
    op.state = 'stalled';
    await manager.save(op);
    await this.operations.event(manager, op.id, 'stalled', { reasons });
    await this.notifications.notify('maintenance.stalled', { clusterId: op.clusterId, hostId: op.hostId, operationId: op.id, reasons }, manager);
    this.logger.warn({
      msg: `maintenance of host ${op.hostId} stalled: ${reasons.length} VMs could not leave`,
      clusterId: op.clusterId,
      hostId: op.hostId,
      operationId: op.id,
    });
  }
}
