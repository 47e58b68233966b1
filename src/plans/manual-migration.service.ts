import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { placeInFlight } from '../closedloop/in-flight.js';
import { conflict, notFound } from '../common/http-errors.js';
import { advisoryXactLock } from '../database/advisory-locks.js';
import { ClustersService } from '../inventory/clusters.service.js';
import { HostEntity } from '../inventory/entities/host.entity.js';
import { VmEntity } from '../inventory/entities/vm.entity.js';
import { SnapshotsService } from '../inventory/snapshots.service.js';
import { MigrationDispatcher } from '../migrations/migration-dispatcher.js';
import { MigrationsRepository } from '../migrations/migrations.repository.js';
import { MigrationsService } from '../migrations/migrations.service.js';
import { checkMoves } from '../planner/index.js';
import type { Move } from '../planner/snapshot.js';
import { PlansService } from './plans.service.js';

export interface ManualMigration {
  clusterId: string;
  migrationId: string;
  /** The approved plan of this one move, as every migration belongs to a plan in the history. */
  planId: string;
  move: Move;
}

/** Priority 1, with evacuations and must-rule repairs: ahead of every balancing move (2..5). */
export const MANUAL_MIGRATION_PRIORITY = 1;

/**
 * vMotion of one VM to a host the operator chose. The move is checked like a move of an approved
 * plan (the planner's filters, on the cluster as its unfinished migrations leave it) and recorded
 * the same way: an approved plan of one move whose migration the dispatcher starts.
 */
@Injectable()
export class ManualMigrationService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly clusters: ClustersService,
    private readonly snapshots: SnapshotsService,
    private readonly plans: PlansService,
    private readonly migrations: MigrationsService,
    private readonly migrationRows: MigrationsRepository,
    private readonly dispatcher: MigrationDispatcher,
  ) {}

  async migrate(vmId: string, hostId: string, requestedByKeyId: string | null = null): Promise<ManualMigration> {
    const result = await this.db.transaction(async (manager) => {
      const found = await manager.findOneBy(VmEntity, { id: vmId });
      if (!found) throw notFound('VM', vmId);
      const host = await manager.findOneBy(HostEntity, { id: hostId });
      if (!host) throw notFound('host', hostId);
      if (host.clusterId !== found.clusterId) {
        throw conflict(`host ${hostId} is in cluster ${host.clusterId}, VM ${vmId} in cluster ${found.clusterId}: a VM migrates within its cluster`, {
          plugin: 'cluster',
        });
      }
      const clusterId = found.clusterId;
      // No evaluation plans the cluster while this move joins it (one would not see it).
      await advisoryXactLock(manager, 'plan', clusterId);
      await this.clusters.require(clusterId, manager, true);
      const vm = await manager.findOneByOrFail(VmEntity, { id: vmId });
      const unfinished = await this.migrationRows.unfinishedCompute(manager, clusterId, true);
      const active = await this.migrationRows.firstOfVm(manager, vmId);
      if (active) throw conflict(`VM ${vmId} is already migrating (migration ${active.id})`, { plugin: 'in-flight', migrationId: active.id });
      if (vm.hostId === hostId) throw conflict(`VM ${vmId} is already on ${hostId}`, { plugin: 'host-state' });
      const source = await manager.findOneByOrFail(HostEntity, { id: vm.hostId });
      if (source.state === 'failed') {
        throw conflict(`VM ${vmId} is on ${source.id}, which is failed (unreachable): it cannot be live-migrated; restart it on another host through HA`, {
          plugin: 'host-state',
        });
      }
      const snapshot = await this.snapshots.build(clusterId, new Date(), manager);
      const move: Move = { vmId, fromHostId: vm.hostId, toHostId: hostId, priority: MANUAL_MIGRATION_PRIORITY, reason: 'manual' };
      const check = checkMoves(
        placeInFlight(
          snapshot,
          unfinished.map((u) => u.move),
        ),
        [move],
      );
      if (!check.valid) {
        const { plugin, reason } = check.problems[0];
        throw conflict(`VM ${vmId} cannot migrate to ${hostId}: ${reason}`, { plugin, reason });
      }
      const note = { reason: `manual migration of ${vmId} to ${hostId}` };
      const plan = await this.plans.record(manager, snapshot, [move], 'operator', note, requestedByKeyId);
      const [migrationId] = await this.migrations.createFromMoves(manager, clusterId, plan.id, [{ move, moveIndex: 0 }], null, requestedByKeyId, unfinished);
      return { clusterId, migrationId, planId: plan.id, move };
    });
    void this.dispatcher.request(result.clusterId);
    return result;
  }
}
