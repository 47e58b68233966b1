import { type BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { queryPrepared } from '../database/prepared.js';
import { macAddressFor } from '../engine/mac-address.js';
import type { MigrationKind, MigrationRequest } from '../engine/migration-engine.js';
import { admit, hostSlots, type MigrationLimits, type SlotUser } from './admission.js';
import { MigrationQueue, type QueuedMigration } from './migration-queue.js';
import { writeTransitions } from './transitions.js';

/** What the dispatcher reads of a migration to start it: the row and the engine's view of VM and hosts. */
interface StartableRow {
  id: string;
  cluster_id: string;
  kind: MigrationKind;
  vm_id: string;
  source_host_id: string;
  target_host_id: string;
  source_datastore_id: string | null;
  target_datastore_id: string | null;
  priority: number;
  memory_mb: number;
  memory_dirty_rate_mbps: number | null;
  datastores: string[];
  source_mbps: number | null;
  target_mbps: number | null;
}

const SELECT_STARTABLE = `
  SELECT m.id, m.cluster_id, m.kind, m.vm_id, m.source_host_id, m.target_host_id, m.source_datastore_id,
         m.target_datastore_id, m.priority, v.memory_mb, v.memory_dirty_rate_mbps, v.datastores,
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
      AND m.source_host_id = ANY($2) AND m.target_host_id = ANY($2)
      AND NOT EXISTS (
        SELECT 1 FROM migration_dependencies d JOIN migrations dep ON dep.id = d.depends_on
        WHERE d.migration_id = m.id AND dep.state <> 'succeeded')
    ORDER BY m.priority, m.created_at, m.plan_id, m.move_index
    LIMIT $3)
  ${SELECT_STARTABLE}
  JOIN c ON c.id = m.id
  ORDER BY m.priority, m.created_at, m.plan_id, m.move_index`;

/** Namespace of the dispatcher's advisory locks (one per cluster). */
const DISPATCH_LOCK = 7301;
/** A pass waits this long for more requests to fold in: under load, fewer and fuller passes. */
const COALESCE_MS = 50;

/**
 * Starts pending migrations as slots free up: one cluster at a time under a PostgreSQL advisory
 * lock, so the per-host, per-link and per-cluster limits hold across any number of processes.
 * Started migrations become `queued` and get their BullMQ job.
 */
@Injectable()
export class MigrationDispatcher implements BeforeApplicationShutdown {
  private readonly logger = new Logger(MigrationDispatcher.name);
  private readonly active = new Set<string>();
  private readonly again = new Set<string>();
  private readonly idle = new Map<string, (() => void)[]>();
  private readonly passes = new Set<Promise<void>>();
  private closed = false;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly queue: MigrationQueue,
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
  ) {}

  get limits(): MigrationLimits {
    return { perHost: this.config.MIGRATION_MAX_PER_HOST, perCluster: this.config.MIGRATION_MAX_PER_CLUSTER };
  }

  /**
   * Asks for a dispatch of the cluster soon; requests made while one runs fold into one more pass.
   * Resolves when the cluster has no dispatch running any more.
   */
  request(clusterId: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    const settled = new Promise<void>((resolve) => {
      const waiting = this.idle.get(clusterId) ?? [];
      waiting.push(resolve);
      this.idle.set(clusterId, waiting);
    });
    if (this.active.has(clusterId)) {
      this.again.add(clusterId);
      return settled;
    }
    this.active.add(clusterId);
    const pass = (async () => {
      try {
        do {
          await new Promise((resolve) => setTimeout(resolve, COALESCE_MS));
          this.again.delete(clusterId);
          if ((await this.dispatch(clusterId)) === null) this.again.add(clusterId);
        } while (this.again.has(clusterId) && !this.closed);
      } catch (error) {
        this.logger.error(`dispatch of cluster ${clusterId} failed: ${(error as Error).message}`);
      } finally {
        this.active.delete(clusterId);
        const waiting = this.idle.get(clusterId) ?? [];
        this.idle.delete(clusterId);
        waiting.forEach((resolve) => resolve());
      }
    })();
    this.passes.add(pass);
    void pass.finally(() => this.passes.delete(pass));
    return settled;
  }

  /** Shutting down: no new passes; the ones under way finish (they hold a transaction) before PostgreSQL closes. */
  async beforeApplicationShutdown(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.passes]);
  }

  /**
   * One pass: admits what fits now. Returns the number of migrations started, or null when another
   * process is dispatching the cluster right now (it may not see what freed up since: try again).
   */
  async dispatch(clusterId: string): Promise<number | null> {
    const started = await this.db.transaction(async (manager) => {
      const [{ locked }] = await manager.query(`SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS locked`, [DISPATCH_LOCK, clusterId]);
      if (!locked) return null;
      const [{ inFlight, hosts }] = await queryPrepared<{ inFlight: SlotUser[]; hosts: { id: string; mbps: number | null }[] }>(
        manager,
        'ballast-dispatch-slots',
        `SELECT
           (SELECT coalesce(json_agg(json_build_object('vmId', vm_id, 'sourceHostId', source_host_id, 'targetHostId', target_host_id)), '[]')
            FROM migrations WHERE cluster_id = $1 AND state IN ('queued', 'running')) AS "inFlight",
           (SELECT coalesce(json_agg(json_build_object('id', id, 'mbps', migration_bandwidth_mbps)), '[]')
            FROM hosts WHERE cluster_id = $1) AS hosts`,
        [clusterId],
      );
      const clusterFree = this.limits.perCluster - inFlight.length;
      if (clusterFree <= 0) return [];
      const linkMbps = new Map(hosts.map((h) => [h.id, h.mbps]));
      const used = new Map<string, number>();
      for (const m of inFlight) {
        for (const host of new Set([m.sourceHostId, m.targetHostId])) used.set(host, (used.get(host) ?? 0) + 1);
      }
      const freeHosts = hosts.filter((h) => (used.get(h.id) ?? 0) < hostSlots(h.id, linkMbps, this.limits)).map((h) => h.id);
      if (freeHosts.length === 0) return [];
      const rows = await queryPrepared<StartableRow>(manager, 'ballast-dispatch-startable', STARTABLE_SQL, [
        clusterId,
        freeHosts,
        Math.min(2000, clusterFree * 4),
      ]);
      const candidates = rows.map((row) => ({ row, vmId: row.vm_id, sourceHostId: row.source_host_id, targetHostId: row.target_host_id }));
      const admitted = admit({ inFlight, candidates, linkMbps, limits: this.limits });
      const applied = await writeTransitions(
        manager,
        admitted.map(({ row }) => ({ migrationId: row.id, from: 'pending', to: 'queued' })),
      );
      return admitted.filter((_, i) => applied.has(i)).map(({ row }) => this.toQueued(row));
    });
    if (started === null) return null;
    await this.queue.add(started);
    return started.length;
  }

  /** Queued and running migrations whose BullMQ job is gone go back on the queue (Postgres is the truth). */
  async requeueOrphans(): Promise<number> {
    // Recently changed ones are left alone: their job is being added right now.
    const rows: StartableRow[] = await this.db.query(
      `${SELECT_STARTABLE} WHERE m.state IN ('queued', 'running') AND m.updated_at < now() - interval '5 seconds'`,
    );
    return this.queue.requeue(rows.map((row) => this.toQueued(row)));
  }

  /** Clusters with migrations waiting to start. */
  async clustersWithPending(manager: EntityManager = this.db.manager): Promise<string[]> {
    const rows: { cluster_id: string }[] = await manager.query(`SELECT DISTINCT cluster_id FROM migrations WHERE state = 'pending'`);
    return rows.map((r) => r.cluster_id);
  }

  private toQueued(row: StartableRow): QueuedMigration {
    const request: MigrationRequest = {
      migrationId: row.id,
      kind: row.kind,
      vm: {
        id: row.vm_id,
        memoryMb: row.memory_mb,
        memoryDirtyRateMbps: row.memory_dirty_rate_mbps ?? undefined,
        macAddress: macAddressFor(row.vm_id),
        datastores: row.datastores,
      },
      source: { id: row.source_host_id, migrationBandwidthMbps: row.source_mbps ?? undefined },
      target: { id: row.target_host_id, migrationBandwidthMbps: row.target_mbps ?? undefined },
      sourceDatastoreId: row.source_datastore_id ?? undefined,
      targetDatastoreId: row.target_datastore_id ?? undefined,
      downtimeLimitMs: this.config.MIGRATION_DOWNTIME_LIMIT_MS,
    };
    return { migrationId: row.id, clusterId: row.cluster_id, request, priority: row.priority };
  }
}
