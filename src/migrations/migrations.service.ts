import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { badRequest, conflict, notFound } from '../common/http-errors.js';
import { isUuid, type Page } from '../common/query-params.js';
import { PG_UNIQUE_VIOLATION, pgErrorCode } from '../database/pg-errors.js';
import { HostEntity } from '../inventory/entities/host.entity.js';
import { VmEntity } from '../inventory/entities/vm.entity.js';
import type { MigrationProgress } from '../engine/migration-engine.js';
import type { Move } from '../planner/snapshot.js';
import { Cancellations } from './cancellations.js';
import { MigrationDispatcher } from './migration-dispatcher.js';
import { MigrationQueue } from './migration-queue.js';
import { HA_RESTART_REASON, isFinal } from './migration-state.js';
import { MigrationEntity, type MigrationEventEntity } from './migration.entity.js';
import { type MigrationFilter, MigrationsRepository, type UnfinishedMove } from './migrations.repository.js';
import { moveDependencies } from './move-dependencies.js';
import { cancelDependents, writeTransitions } from './transitions.js';

/** A migration with its latest progress milestone (from its history). */
export type MigrationView = MigrationEntity & { progress: MigrationProgress | null };
export type MigrationWithEvents = MigrationView & { events: MigrationEventEntity[] };

export interface CancelOutcome {
  id: string;
  /** Running: asked to stop; otherwise cancelled already. */
  requested: boolean;
}

/** What became of a cancel request, in the answer to it. */
export interface CancelDelivery {
  /** False when Redis did not take the message to the worker: the request stands in PostgreSQL and is acted on all the same. */
  delivered: boolean;
  message: string;
}

export type CancelledMigration = MigrationWithEvents & { cancellation: CancelDelivery };

function describeDelivery(outcome: CancelOutcome, delivered: boolean): CancelDelivery {
  if (!outcome.requested) return { delivered: true, message: 'cancelled: it had not started' };
  if (delivered) return { delivered: true, message: 'the worker driving it was asked to stop it' };
  return {
    delivered: false,
    message:
      'Redis did not answer, so the worker was not told at once: the cancellation is stored and the worker acts on it ' +
      'when it next checks (within seconds) or when Redis is back; the migration ends cancelled unless it finishes first',
  };
}

/** A move of a plan, with its position in the plan, to become a migration. */
export interface PlannedMigration {
  move: Move;
  moveIndex: number;
}

@Injectable()
export class MigrationsService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly repository: MigrationsRepository,
    private readonly dispatcher: MigrationDispatcher,
    private readonly queue: MigrationQueue,
    private readonly cancellations: Cancellations,
  ) {}

  async list(filter: MigrationFilter, page: { limit: number; offset: number }): Promise<Page<MigrationView>> {
    const clusterId = filter.clusterId ?? (await this.clusterOf(filter));
    const { items, total } = await this.repository.page({ ...filter, clusterId }, page);
    const progress = await this.repository.latestProgress(items.map((m) => m.id));
    return { items: items.map((m) => ({ ...m, progress: progress.get(m.id) ?? null })), total, ...page };
  }

  /**
   * A host's or a plan's migrations are all in its cluster: naming the cluster lets its index narrow
   * the search (migrations have no index by host or plan, to keep their writes cheap).
   */
  private async clusterOf(filter: MigrationFilter): Promise<string | undefined> {
    const [row]: { cluster_id: string }[] = filter.hostId
      ? await this.db.query(`SELECT cluster_id FROM hosts WHERE id = $1`, [filter.hostId])
      : filter.planId
        ? await this.db.query(`SELECT cluster_id FROM plans WHERE id = $1`, [filter.planId])
        : [];
    return row?.cluster_id;
  }

  async get(id: string): Promise<MigrationWithEvents> {
    const migration = isUuid(id) ? await this.repository.find(id) : null;
    if (!migration) throw notFound('migration', id);
    const events = await this.repository.events(id);
    const progress = events.findLast((e) => e.type === 'progress')?.detail as MigrationProgress | undefined;
    return { ...migration, progress: progress ?? null, events };
  }

  /**
   * Pending and queued migrations are cancelled at once; a running one is asked to stop (the
   * engine leaves the VM on its source) and ends `cancelled` unless it finished first.
   */
  async cancel(id: string): Promise<CancelledMigration> {
    const { migration, outcome } = await this.db.transaction(async (manager) => {
      const found = isUuid(id) ? await this.repository.find(id, manager, true) : null;
      if (!found) throw notFound('migration', id);
      if (isFinal(found.state)) throw conflict(`migration ${id} already ended: ${found.state}`);
      return { migration: found, outcome: await this.cancelWithin(manager, found, 'operator') };
    });
    const [delivered] = await this.afterCancel([outcome]);
    void this.dispatcher.request(migration.clusterId);
    return { ...(await this.get(id)), cancellation: describeDelivery(outcome, delivered) };
  }

  /**
   * Inside the caller's transaction: a migration not started yet is cancelled, with the moves that
   * wait for it; a running one is marked for cancelling. Once committed, `afterCancel` tells the
   * queue and the worker.
   */
  async cancelWithin(
    manager: EntityManager,
    migration: Pick<MigrationEntity, 'id' | 'state'>,
    by: string,
  ): Promise<CancelOutcome> {
    const { id } = migration;
    if (migration.state === 'running') {
      await this.repository.markCancelRequested(manager, id);
      await writeTransitions(manager, [], [{ migrationId: id, type: 'cancel-requested', detail: { by } }]);
      return { id, requested: true };
    }
    await writeTransitions(manager, [{ migrationId: id, from: migration.state, to: 'cancelled', error: `cancelled by ${by}`, detail: { by } }]);
    await cancelDependents(manager, id);
    return { id, requested: false };
  }

  /**
   * Tells the workers of the running ones and drops the others' jobs, without waiting on a Redis
   * that is away (a dropped migration's job left behind is a no-op for the worker). Returns, by
   * outcome, whether Redis took it.
   */
  async afterCancel(outcomes: CancelOutcome[]): Promise<boolean[]> {
    const delivered: boolean[] = [];
    for (const { id, requested } of outcomes) {
      delivered.push(requested ? await this.cancellations.request(id) : await this.queue.removeJob(id));
    }
    return delivered;
  }

  /**
   * Turns moves of a plan into pending migrations, with the dependencies that keep their order
   * valid, inside the caller's transaction. The dispatcher starts them. Moves checked against the
   * cluster as the unfinished migrations `after` leave it also wait for those of them they need
   * (the ones that make room on their target).
   */
  async createFromMoves(
    manager: EntityManager,
    clusterId: string,
    planId: string | null,
    planned: PlannedMigration[],
    operationId: string | null = null,
    requestedByKeyId: string | null = null,
    after: readonly UnfinishedMove[] = [],
  ): Promise<string[]> {
    const ids = planned.map(() => crypto.randomUUID());
    const rows: Partial<MigrationEntity>[] = planned.map(({ move, moveIndex }, i) => ({
      id: ids[i],
      clusterId,
      planId,
      moveIndex,
      operationId,
      kind: 'compute',
      vmId: move.vmId,
      sourceHostId: move.fromHostId,
      targetHostId: move.toHostId,
      priority: move.priority,
      reason: move.reason,
      state: 'pending',
      attempts: 0,
      cancelRequested: false,
      requestedByKeyId,
    }));
    const idOf = (j: number) => (j < after.length ? after[j].migrationId : ids[j - after.length]);
    const dependencies = moveDependencies([...after.map((a) => a.move), ...planned.map((p) => p.move)])
      .slice(after.length)
      .flatMap((needs, i) => needs.map((j) => ({ migrationId: ids[i], dependsOn: idOf(j) })));
    await this.repository.insert(manager, rows, dependencies);
    await writeTransitions(
      manager,
      [],
      ids.map((id, i) => ({ migrationId: id, type: 'state', toState: 'pending', detail: { planId, moveIndex: planned[i].moveIndex } })),
    );
    return ids;
  }

  /**
   * HA restarts of down VMs, pending, inside the caller's transaction (the dispatcher starts them,
   * within the same limits as migrations; the worker asks the engine to restart, not to migrate).
   * They are priority 1 and keep the given order (high restart priority first) through move_index.
   */
  async createRestarts(manager: EntityManager, clusterId: string, restarts: { vmId: string; fromHostId: string; toHostId: string; restartPriority: string }[]): Promise<string[]> {
    const ids = restarts.map(() => crypto.randomUUID());
    const rows: Partial<MigrationEntity>[] = restarts.map((r, i) => ({
      id: ids[i],
      clusterId,
      planId: null,
      moveIndex: i,
      kind: 'restart',
      vmId: r.vmId,
      sourceHostId: r.fromHostId,
      targetHostId: r.toHostId,
      priority: 1,
      reason: HA_RESTART_REASON,
      state: 'pending',
      attempts: 0,
      cancelRequested: false,
      requestedByKeyId: null,
    }));
    await this.repository.insert(manager, rows);
    await writeTransitions(
      manager,
      [],
      ids.map((id, i) => ({ migrationId: id, type: 'state', toState: 'pending', detail: { restartPriority: restarts[i].restartPriority, failedHostId: restarts[i].fromHostId } })),
    );
    return ids;
  }

  /** Storage vMotion: the VM's disks move to another datastore of its host while it runs. */
  async relocateStorage(vmId: string, datastoreId: string, sourceDatastoreId?: string, requestedByKeyId: string | null = null): Promise<MigrationWithEvents> {
    const id = await this.db.transaction(async (manager) => {
      const vm = await manager.findOneBy(VmEntity, { id: vmId });
      if (!vm) throw notFound('VM', vmId);
      const host = await manager.findOneByOrFail(HostEntity, { id: vm.hostId });
      if (!host.datastores.includes(datastoreId)) {
        throw badRequest('body.datastoreId', `host ${host.id} of VM ${vmId} has no datastore "${datastoreId}" (it has ${host.datastores.join(', ') || 'none'})`);
      }
      const from = sourceDatastoreId ?? vm.datastores[0];
      if (!from || !vm.datastores.includes(from)) {
        throw badRequest('body.sourceDatastoreId', `VM ${vmId} has no disks on "${from ?? ''}" (it uses ${vm.datastores.join(', ') || 'none'})`);
      }
      if (vm.datastores.includes(datastoreId)) throw conflict(`VM ${vmId} already has disks on "${datastoreId}"`);
      const active = await this.repository.firstOfVm(manager, vmId);
      if (active) throw conflict(`VM ${vmId} already has migration ${active.id} in progress`);
      const row: Partial<MigrationEntity> = {
        id: crypto.randomUUID(),
        clusterId: vm.clusterId,
        kind: 'storage',
        vmId,
        sourceHostId: vm.hostId,
        targetHostId: vm.hostId,
        sourceDatastoreId: from,
        targetDatastoreId: datastoreId,
        priority: 2,
        reason: 'storage',
        state: 'pending',
        attempts: 0,
        cancelRequested: false,
        requestedByKeyId,
      };
      try {
        await this.repository.insert(manager, [row]);
      } catch (error) {
        if (pgErrorCode(error) === PG_UNIQUE_VIOLATION) throw conflict(`VM ${vmId} already has a migration in flight`);
        throw error;
      }
      await writeTransitions(manager, [], [{ migrationId: row.id!, type: 'state', toState: 'pending', detail: { datastoreId } }]);
      return row.id!;
    });
    const migration = await this.get(id);
    void this.dispatcher.request(migration.clusterId);
    return migration;
  }
}
