import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { MigrationsService } from '../migrations/migrations.service.js';
import type { Snapshot } from '../planner/snapshot.js';
import { PlansService, type PlanView } from '../plans/plans.service.js';
import type { Evacuation } from './evacuation.js';
import type { MaintenanceOperationEntity } from './maintenance.entity.js';
import { MaintenanceRepository } from './maintenance.repository.js';

/** Starts an evacuation's moves, for the operation's first plan (enter) and its retries (supervisor). */
@Injectable()
export class EvacuationMoves {
  constructor(
    private readonly operations: MaintenanceRepository,
    private readonly migrations: MigrationsService,
    private readonly plans: PlansService,
  ) {}

  /** Records the evacuation's moves as an approved plan and makes them migrations of the operation, asked for by its key. */
  async start(
    manager: EntityManager,
    op: MaintenanceOperationEntity,
    snapshot: Snapshot,
    evacuation: Evacuation,
    eventType: 'planned' | 'retry-planned',
  ): Promise<PlanView | null> {
    if (evacuation.moves.length === 0) return null;
    const note = { reason: `evacuation of ${op.hostId}`, operationId: op.id };
    const plan = await this.plans.record(manager, snapshot, evacuation.moves, 'maintenance', note, op.requestedByKeyId);
    await this.migrations.createFromMoves(
      manager,
      op.clusterId,
      plan.id,
      evacuation.moves.map((move, moveIndex) => ({ move, moveIndex })),
      op.id,
      op.requestedByKeyId,
    );
    await this.operations.event(manager, op.id, eventType, { planId: plan.id, moves: evacuation.moves.length });
    return plan;
  }
}
