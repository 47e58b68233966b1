import { Inject, Injectable } from '@nestjs/common';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { bulkInsert } from '../database/bulk-insert.js';
import { queryPrepared } from '../database/prepared.js';
import type { MigrationProgress } from '../engine/migration-engine.js';
import type { MigrationsInProgress } from '../inventory/migrations-in-progress.js';
import type { Move } from '../planner/snapshot.js';
import type { SlotUser } from './admission.js';
import {
  HA_RESTART_REASON,
  HOST_CHANGING_KINDS,
  type MigrationRowKind,
  type MigrationState,
  NOT_STARTED_STATES,
  type NotStartedState,
  SLOT_HOLDING_STATES,
  sqlKinds,
  sqlStates,
  UNFINISHED_STATES,
  type UnfinishedState,
  UNSUCCESSFUL_STATES,
} from './migration-state.js';
import { MigrationEntity, MigrationEventEntity } from './migration.entity.js';

const UNFINISHED = sqlStates(UNFINISHED_STATES);
const SLOT_HOLDING = sqlStates(SLOT_HOLDING_STATES);
const NOT_STARTED = sqlStates(NOT_STARTED_STATES);
const UNSUCCESSFUL = sqlStates(UNSUCCESSFUL_STATES);

/** What the dispatcher reads of a migration to start it: the row and the engine's view of VM and hosts. */
export interface StartableRow {
  id: string;
  cluster_id: string;
  kind: MigrationRowKind;
  vm_id: string;
  source_host_id: string;
  target_host_id: string;
  source_datastore_id: string | null;
  target_datastore_id: string | null;
  priority: number;
  memory_mb: number;
  memory_dirty_rate_mbps: number | null;
  datastores: string[];
  disk_mb: number | null;
  /** The first NIC's MAC as discovery found it. */
  mac_address: string | null;
  source_mbps: number | null;
  target_mbps: number | null;
}

const SELECT_STARTABLE = `
  SELECT m.id, m.cluster_id, m.kind, m.vm_id, m.source_host_id, m.target_host_id, m.source_datastore_id,
         m.target_datastore_id, m.priority, v.memory_mb, v.memory_dirty_rate_mbps, v.datastores, v.disk_mb, v.mac_addresses[1] AS mac_address,
         sh.migration_bandwidth_mbps AS source_mbps, th.migration_bandwidth_mbps AS target_mbps
  FROM migrations m
  JOIN vms v ON v.id = m.vm_id
  JOIN hosts sh ON sh.id = m.source_host_id
  JOIN hosts th ON th.id = m.target_host_id`;

/**
 * Pending migrations between hosts with free slots whose earlier moves are done, in start order;
 * the first ones are chosen before their VM and hosts are read.
 */
const STARTABLE_SQL = `
  WITH c AS MATERIALIZED (
    SELECT m.id FROM migrations m
    WHERE m.cluster_id = $1 AND m.state = 'pending'
      -- A restart takes no slot of its failed host (nothing is sent from it).
      AND (m.kind = 'restart' OR m.source_host_id = ANY($2)) AND m.target_host_id = ANY($2)
      AND NOT EXISTS (
        SELECT 1 FROM migration_dependencies d JOIN migrations dep ON dep.id = d.depends_on
        WHERE d.migration_id = m.id AND dep.state <> 'succeeded')
    ORDER BY m.priority, m.created_at, m.plan_id, m.move_index
    LIMIT $3)
  ${SELECT_STARTABLE}
  JOIN c ON c.id = m.id
  ORDER BY m.priority, m.created_at, m.plan_id, m.move_index`;

const SLOTS_SQL = `
  SELECT
    (SELECT coalesce(json_agg(json_build_object('vmId', vm_id,
       'sourceHostId', CASE WHEN kind = 'restart' THEN target_host_id ELSE source_host_id END, 'targetHostId', target_host_id)), '[]')
     FROM migrations WHERE cluster_id = $1 AND state IN ${SLOT_HOLDING}) AS "slotHolders",
    (SELECT coalesce(json_agg(json_build_object('id', id, 'mbps', migration_bandwidth_mbps)), '[]')
     FROM hosts WHERE cluster_id = $1) AS hosts`;

const MOVE_HISTORY_SQL = `
  SELECT vm_id AS "vmId", source_host_id AS "fromHostId", target_host_id AS "toHostId", created_at AS at, priority FROM migrations
  WHERE cluster_id = $1 AND kind = 'compute' AND created_at >= $2 AND NOT (state IN ('failed', 'cancelled') AND started_at IS NULL)
  ORDER BY created_at`;

/** A migration as the live view shows it (raw row, with its latest progress when it has one). */
export interface LiveMigrationRow {
  id: string;
  cluster_id: string;
  plan_id: string | null;
  kind: MigrationRowKind;
  vm_id: string;
  source_host_id: string;
  target_host_id: string;
  state: string;
  reason: string;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  prediction: Record<string, unknown> | null;
  result: Record<string, unknown> | null;
  error: string | null;
  progress: MigrationProgress | null;
}

/** A compute migration not yet ended, as the move it makes. */
export interface UnfinishedMove {
  migrationId: string;
  move: Move;
}

export interface MigrationFilter {
  clusterId?: string;
  vmId?: string;
  /** Source or target. */
  hostId?: string;
  state?: MigrationState;
  planId?: string;
  kind?: MigrationRowKind;
  since?: Date;
  until?: Date;
}

/**
 * The one place for the SQL of the `migrations` table (and of its dependencies and history reads),
 * outside the journal's guarded state changes (transitions.ts). Methods that take a manager run in
 * its transaction.
 */
@Injectable()
export class MigrationsRepository implements MigrationsInProgress {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
  ) {}

  // --- reads for the API ---

  async page(filter: MigrationFilter, page: { limit: number; offset: number }): Promise<{ items: MigrationEntity[]; total: number }> {
    const query = this.db.getRepository(MigrationEntity).createQueryBuilder('m');
    if (filter.clusterId) query.andWhere('m.cluster_id = :clusterId', { clusterId: filter.clusterId });
    if (filter.vmId) query.andWhere('m.vm_id = :vmId', { vmId: filter.vmId });
    if (filter.hostId) query.andWhere('(m.source_host_id = :hostId OR m.target_host_id = :hostId)', { hostId: filter.hostId });
    if (filter.state) query.andWhere('m.state = :state', { state: filter.state });
    if (filter.planId) query.andWhere('m.plan_id = :planId', { planId: filter.planId });
    if (filter.kind) query.andWhere('m.kind = :kind', { kind: filter.kind });
    if (filter.since) query.andWhere('m.created_at >= :since', { since: filter.since });
    if (filter.until) query.andWhere('m.created_at < :until', { until: filter.until });
    const [items, total] = await query
      .orderBy('m.created_at', 'DESC')
      .addOrderBy('m.move_index', 'ASC', 'NULLS LAST')
      .addOrderBy('m.id', 'ASC')
      .take(page.limit)
      .skip(page.offset)
      .getManyAndCount();
    return { items, total };
  }

  /**
   * The migrations not ended yet (optionally of one cluster), each with its latest progress
   * milestone, started ones first: what the dashboard's live view shows.
   */
  async unfinishedWithProgress(clusterId: string | null, limit: number): Promise<LiveMigrationRow[]> {
    return this.db.query(
      `SELECT m.id, m.cluster_id, m.plan_id, m.kind, m.vm_id, m.source_host_id, m.target_host_id, m.state, m.reason,
              m.created_at, m.started_at, m.finished_at, m.prediction, m.result, m.error, p.detail AS progress
       FROM migrations m
       LEFT JOIN LATERAL (SELECT detail FROM migration_events e WHERE e.migration_id = m.id AND e.type = 'progress' ORDER BY e.id DESC LIMIT 1) p ON true
       WHERE m.state IN ${UNFINISHED} AND ($1::text IS NULL OR m.cluster_id = $1)
       ORDER BY m.started_at NULLS LAST, m.created_at, m.id LIMIT $2`,
      [clusterId, limit],
    );
  }

  /** Migrations that ended after `since` (optionally of one cluster), oldest first. */
  async endedSince(clusterId: string | null, since: Date, limit: number): Promise<LiveMigrationRow[]> {
    return this.db.query(
      `SELECT m.id, m.cluster_id, m.plan_id, m.kind, m.vm_id, m.source_host_id, m.target_host_id, m.state, m.reason,
              m.created_at, m.started_at, m.finished_at, m.prediction, m.result, m.error, NULL AS progress
       FROM migrations m
       WHERE m.finished_at > $2 AND ($1::text IS NULL OR m.cluster_id = $1)
       ORDER BY m.finished_at, m.id LIMIT $3`,
      [clusterId, since, limit],
    );
  }

  /** The latest progress milestone of each of the migrations that has one. */
  async latestProgress(ids: string[]): Promise<Map<string, MigrationProgress>> {
    const rows: { migration_id: string; detail: MigrationProgress }[] = await this.db.query(
      `SELECT DISTINCT ON (migration_id) migration_id, detail FROM migration_events
       WHERE migration_id = ANY($1) AND type = 'progress' ORDER BY migration_id, id DESC`,
      [ids],
    );
    return new Map(rows.map((row) => [row.migration_id, row.detail]));
  }

  async find(id: string, manager: EntityManager = this.db.manager, lock = false): Promise<MigrationEntity | null> {
    return manager.findOne(MigrationEntity, { where: { id }, lock: lock ? { mode: 'pessimistic_write' } : undefined });
  }

  async events(id: string): Promise<MigrationEventEntity[]> {
    return this.db.getRepository(MigrationEventEntity).find({ where: { migrationId: id }, order: { id: 'ASC' } });
  }

  /** A migration's state and whether an operator asked to cancel it. */
  async stateOf(id: string): Promise<{ state: MigrationState; cancelRequested: boolean } | undefined> {
    const [row] = await this.db.query(`SELECT state, cancel_requested AS "cancelRequested" FROM migrations WHERE id = $1`, [id]);
    return row;
  }

  // --- writes (state changes go through the journal, transitions.ts) ---

  /** New migrations, with the migrations each waits for (pairs of ids). */
  async insert(manager: EntityManager, rows: Partial<MigrationEntity>[], dependencies: { migrationId: string; dependsOn: string }[] = []): Promise<void> {
    // Each migration belongs to the engine that knows its VM (see unfinishedOfOtherEngines).
    await bulkInsert(manager, MigrationEntity, rows.map((row) => ({ ...row, engine: this.config.MIGRATION_ENGINE })));
    if (dependencies.length === 0) return;
    await manager.query(
      `INSERT INTO migration_dependencies (migration_id, depends_on)
       SELECT migration_id, depends_on FROM jsonb_to_recordset($1::jsonb) AS x(migration_id uuid, depends_on uuid)`,
      [JSON.stringify(dependencies.map((d) => ({ migration_id: d.migrationId, depends_on: d.dependsOn })))],
    );
  }

  async markCancelRequested(manager: EntityManager, id: string): Promise<void> {
    await manager.update(MigrationEntity, { id }, { cancelRequested: true });
  }

  /** Of these migrations, the running ones an operator asked to cancel. */
  async cancelRequestedAmong(ids: string[]): Promise<string[]> {
    const rows: { id: string }[] = await this.db.query(`SELECT id FROM migrations WHERE id = ANY($1::uuid[]) AND state = 'running' AND cancel_requested`, [ids]);
    return rows.map((r) => r.id);
  }

  /** One more attempt of a running migration (run again after reconciling); its number, or null when it is not running. */
  async countAttempt(id: string): Promise<number | null> {
    const [rows]: [{ attempts: number }[], number] = await this.db.query(
      `UPDATE migrations SET attempts = attempts + 1, updated_at = clock_timestamp() WHERE id = $1 AND state = 'running' RETURNING attempts`,
      [id],
    );
    return rows[0]?.attempts ?? null;
  }

  // --- not yet ended ---

  /** The cluster's compute migrations and HA restarts not yet ended, as moves in start order (planning sees the cluster as they leave it). */
  async unfinishedComputeMoves(manager: EntityManager, clusterId: string): Promise<Move[]> {
    return (await this.unfinishedCompute(manager, clusterId)).map((m) => m.move);
  }

  /**
   * The same, with each migration's id, so that new moves can wait for the ones they need. With
   * `holdUntilCommit` the rows are read FOR SHARE: none of them ends before the caller's new
   * migrations are committed, so that one ending unsuccessfully still finds (and cancels) the moves
   * that wait for it.
   */
  async unfinishedCompute(manager: EntityManager, clusterId: string, holdUntilCommit = false): Promise<UnfinishedMove[]> {
    const rows: { id: string; vm_id: string; source_host_id: string; target_host_id: string; priority: number; reason: Move['reason'] }[] = await manager.query(
      `SELECT id, vm_id, source_host_id, target_host_id, priority, reason FROM migrations
       WHERE cluster_id = $1 AND kind IN ${sqlKinds(HOST_CHANGING_KINDS)} AND state IN ${UNFINISHED}
       ORDER BY priority, created_at, plan_id, move_index${holdUntilCommit ? ' FOR SHARE' : ''}`,
      [clusterId],
    );
    // An HA restart is, for the planner, a mandatory move off a host that is gone.
    return rows.map((r) => ({
      migrationId: r.id,
      move: { vmId: r.vm_id, fromHostId: r.source_host_id, toHostId: r.target_host_id, priority: r.priority, reason: (r.reason as string) === HA_RESTART_REASON ? 'evacuation' : r.reason },
    }));
  }

  /**
   * The cluster's compute migrations created since `since`, oldest first, without those that ended
   * before they started (the closed loop's anti-thrash rules and churn budget count the others).
   */
  async moveHistory(manager: EntityManager, clusterId: string, since: Date): Promise<{ vmId: string; fromHostId: string; toHostId: string; at: Date; priority: number }[]> {
    // Prepared: every evaluation asks, and planning this statement costs more than running it.
    return queryPrepared(manager, 'ballast-move-history', MOVE_HISTORY_SQL, [clusterId, since]);
  }

  /** Compute migrations not yet ended that go to the host. */
  async unfinishedComputeInto(manager: EntityManager, clusterId: string, hostId: string): Promise<{ id: string; state: UnfinishedState }[]> {
    return manager.query(
      `SELECT id, state FROM migrations WHERE cluster_id = $1 AND target_host_id = $2 AND kind = 'compute' AND state IN ${UNFINISHED}`,
      [clusterId, hostId],
    );
  }

  /**
   * VMs of a cluster that Ballast is moving, or moved since `since`: what discovery read of them
   * may be half a move old, so it leaves them alone.
   */
  async vmsMovingSince(manager: EntityManager, clusterId: string, since: Date): Promise<Set<string>> {
    const rows: { vm_id: string }[] = await manager.query(
      `SELECT DISTINCT vm_id FROM migrations WHERE cluster_id = $1 AND (state IN ${UNFINISHED} OR finished_at >= $2)`,
      [clusterId, since],
    );
    return new Set(rows.map((r) => r.vm_id));
  }

  async firstOfVm(manager: EntityManager, vmId: string): Promise<{ id: string } | undefined> {
    const [row]: { id: string }[] = await manager.query(`SELECT id FROM migrations WHERE vm_id = $1 AND state IN ${UNFINISHED} LIMIT 1`, [vmId]);
    return row;
  }

  async firstOfHost(manager: EntityManager, hostId: string): Promise<{ id: string; vmId: string } | undefined> {
    const [row]: { id: string; vmId: string }[] = await manager.query(
      `SELECT id, vm_id AS "vmId" FROM migrations WHERE (source_host_id = $1 OR target_host_id = $1) AND state IN ${UNFINISHED} LIMIT 1`,
      [hostId],
    );
    return row;
  }

  /** Migrations not yet ended from or to the host (a host that failed takes no part in any any more). */
  async unfinishedOfHost(manager: EntityManager, hostId: string): Promise<{ id: string; state: UnfinishedState; kind: MigrationRowKind }[]> {
    return manager.query(
      `SELECT id, state, kind FROM migrations WHERE (source_host_id = $1 OR target_host_id = $1) AND state IN ${UNFINISHED} ORDER BY created_at, id`,
      [hostId],
    );
  }

  /** Migrations (of any kind) not yet ended of these VMs. */
  async unfinishedOfVms(manager: EntityManager, vmIds: string[]): Promise<{ id: string; vmId: string; state: UnfinishedState; kind: MigrationRowKind }[]> {
    if (vmIds.length === 0) return [];
    return manager.query(`SELECT id, vm_id AS "vmId", state, kind FROM migrations WHERE vm_id = ANY($1) AND state IN ${UNFINISHED} ORDER BY created_at, id`, [vmIds]);
  }

  /** Per down VM, its failed restarts since it went down, with the last error. */
  async failedRestartsSinceDown(manager: EntityManager, vmIds: string[]): Promise<Map<string, { count: number; error: string | null }>> {
    if (vmIds.length === 0) return new Map();
    const rows: { vm_id: string; count: number; error: string | null }[] = await manager.query(
      `SELECT m.vm_id, count(*)::int AS count, (array_agg(m.error ORDER BY m.finished_at DESC))[1] AS error
       FROM migrations m JOIN vms v ON v.id = m.vm_id
       WHERE m.vm_id = ANY($1) AND m.kind = 'restart' AND m.state = 'failed' AND m.created_at >= v.down_since GROUP BY m.vm_id`,
      [vmIds],
    );
    return new Map(rows.map((r) => [r.vm_id, { count: r.count, error: r.error }]));
  }

  /** The VMs on a host (powered-on ones only unless asked), each with whether it has a migration not yet ended. */
  async vmsOnHost(manager: EntityManager, hostId: string, includePoweredOff: boolean): Promise<{ id: string; unfinished: boolean }[]> {
    return manager.query(
      `SELECT v.id, EXISTS (SELECT 1 FROM migrations m WHERE m.vm_id = v.id AND m.state IN ${UNFINISHED}) AS unfinished
       FROM vms v WHERE v.host_id = $1 AND ($2 OR v.power_state = 'on') ORDER BY v.id`,
      [hostId, includePoweredOff],
    );
  }

  // --- the dispatcher ---

  /** The migrations holding slots in the cluster, and its hosts' migration links. */
  async slotUsage(manager: EntityManager, clusterId: string): Promise<{ slotHolders: SlotUser[]; hosts: { id: string; mbps: number | null }[] }> {
    const [row] = await queryPrepared<{ slotHolders: SlotUser[]; hosts: { id: string; mbps: number | null }[] }>(
      manager,
      'ballast-dispatch-slots',
      SLOTS_SQL,
      [clusterId],
    );
    return row;
  }

  async startable(manager: EntityManager, clusterId: string, freeHostIds: string[], limit: number): Promise<StartableRow[]> {
    return queryPrepared<StartableRow>(manager, 'ballast-dispatch-startable', STARTABLE_SQL, [clusterId, freeHostIds, limit]);
  }

  /** Started migrations left unchanged for a while (recently changed ones are having their job added right now): their ids. */
  async slotHolderIdsUnchangedFor(seconds: number): Promise<string[]> {
    const rows: { id: string }[] = await this.db.query(
      `SELECT id FROM migrations WHERE state IN ${SLOT_HOLDING} AND updated_at < now() - make_interval(secs => $1)`,
      [seconds],
    );
    return rows.map((r) => r.id);
  }

  /** Of these migrations, the ones still started and unchanged for a while, as the dispatcher reads them to queue them. */
  async slotHoldersUnchangedFor(seconds: number, ids: string[]): Promise<StartableRow[]> {
    return this.db.query(`${SELECT_STARTABLE} WHERE m.id = ANY($2::uuid[]) AND m.state IN ${SLOT_HOLDING} AND m.updated_at < now() - make_interval(secs => $1)`, [
      seconds,
      ids,
    ]);
  }

  /** Clusters with migrations waiting to start. */
  async clustersWithPending(manager: EntityManager = this.db.manager): Promise<string[]> {
    const rows: { cluster_id: string }[] = await manager.query(`SELECT DISTINCT cluster_id FROM migrations WHERE state = 'pending'`);
    return rows.map((r) => r.cluster_id);
  }

  // --- maintenance operations ---

  /** The operation's migrations not started yet (cancelling the operation ends them). */
  async notStartedOfOperation(manager: EntityManager, operationId: string): Promise<{ id: string; state: NotStartedState }[]> {
    return manager.query(`SELECT id, state FROM migrations WHERE operation_id = $1 AND state IN ${NOT_STARTED}`, [operationId]);
  }

  /** Per VM, the error of the operation's last migration that failed or was cancelled. */
  async lastErrorsOfOperation(manager: EntityManager, operationId: string): Promise<Map<string, string | null>> {
    const rows: { vm_id: string; error: string | null }[] = await manager.query(
      `SELECT DISTINCT ON (vm_id) vm_id, error FROM migrations WHERE operation_id = $1 AND state IN ${UNSUCCESSFUL}
       ORDER BY vm_id, finished_at DESC`,
      [operationId],
    );
    return new Map(rows.map((r) => [r.vm_id, r.error]));
  }

  /** Per VM, the targets of the operation's migrations created since `since` that failed or were cancelled. */
  async unsuccessfulTargetsOfOperation(manager: EntityManager, operationId: string, since: Date): Promise<Map<string, string[]>> {
    const rows: { vm_id: string; targets: string[] }[] = await manager.query(
      `SELECT vm_id, array_agg(target_host_id) AS targets FROM migrations
       WHERE operation_id = $1 AND state IN ${UNSUCCESSFUL} AND created_at >= $2 GROUP BY vm_id`,
      [operationId, since],
    );
    return new Map(rows.map((r) => [r.vm_id, r.targets]));
  }

  /** Per VM, where the operation's last successful migration took it. */
  async lastSucceededOfOperation(manager: EntityManager, operationId: string): Promise<{ vmId: string; targetHostId: string }[]> {
    return manager.query(
      `SELECT DISTINCT ON (vm_id) vm_id AS "vmId", target_host_id AS "targetHostId" FROM migrations
       WHERE operation_id = $1 AND state = 'succeeded' ORDER BY vm_id, finished_at DESC`,
      [operationId],
    );
  }
}

/** Unfinished migrations created under an engine, with the clusters they are in. */
export interface EngineBacklog {
  engine: string;
  count: number;
  clusters: string[];
}

/**
 * The unfinished migrations created under another engine than `engine`, per engine: asked at start,
 * before any worker runs (so on a connection of its own, not through Nest).
 */
export async function unfinishedOfOtherEngines(
  db: { query: (sql: string, params: unknown[]) => Promise<{ rows: EngineBacklog[] }> },
  engine: string,
): Promise<EngineBacklog[]> {
  const result = await db.query(
    `SELECT engine, count(*)::int AS count, array_agg(DISTINCT cluster_id ORDER BY cluster_id) AS clusters
     FROM migrations WHERE state IN ${UNFINISHED} AND engine IS NOT NULL AND engine <> $1
     GROUP BY engine ORDER BY engine`,
    [engine],
  );
  return result.rows;
}
