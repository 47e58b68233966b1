import { type BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { tryAdvisoryXactLock } from '../database/advisory-locks.js';
import { macAddressFor } from '../engine/mac-address.js';
import type { MigrationRequest } from '../engine/migration-engine.js';
import { admit, hostSlots, type MigrationLimits } from './admission.js';
import { MigrationQueue, type QueuedMigration } from './migration-queue.js';
import { MigrationsRepository, type StartableRow } from './migrations.repository.js';
import { writeTransitions } from './transitions.js';

/** A started migration unchanged this long without a BullMQ job lost its job (a younger one is having it added). */
const ORPHAN_AFTER_SECONDS = 5;
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
    private readonly migrations: MigrationsRepository,
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
      if (!(await tryAdvisoryXactLock(manager, 'dispatch', clusterId))) return null;
      const { slotHolders, hosts } = await this.migrations.slotUsage(manager, clusterId);
      const clusterFree = this.limits.perCluster - slotHolders.length;
      if (clusterFree <= 0) return [];
      const linkMbps = new Map(hosts.map((h) => [h.id, h.mbps]));
      const used = new Map<string, number>();
      for (const m of slotHolders) {
        for (const host of new Set([m.sourceHostId, m.targetHostId])) used.set(host, (used.get(host) ?? 0) + 1);
      }
      const freeHosts = hosts.filter((h) => (used.get(h.id) ?? 0) < hostSlots(h.id, linkMbps, this.limits)).map((h) => h.id);
      if (freeHosts.length === 0) return [];
      const rows = await this.migrations.startable(manager, clusterId, freeHosts, Math.min(2000, clusterFree * 4));
      // A restart uses only its target's slots: nothing is sent from the failed host.
      const candidates = rows.map((row) => ({ row, vmId: row.vm_id, sourceHostId: row.kind === 'restart' ? row.target_host_id : row.source_host_id, targetHostId: row.target_host_id }));
      const admitted = admit({ slotHolders, candidates, linkMbps, limits: this.limits });
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

  /**
   * Queued and running migrations whose BullMQ job is gone go back on the queue (Postgres is the
   * truth). Only their ids are read to ask Redis; the full rows only of those whose job is gone.
   */
  async requeueOrphans(): Promise<number> {
    const ids = await this.migrations.slotHolderIdsUnchangedFor(ORPHAN_AFTER_SECONDS);
    const orphans = await this.queue.withoutLiveJob(ids);
    if (orphans.length === 0) return 0;
    const rows = await this.migrations.slotHoldersUnchangedFor(ORPHAN_AFTER_SECONDS, orphans);
    return this.queue.requeue(rows.map((row) => this.toQueued(row)));
  }

  private toQueued(row: StartableRow): QueuedMigration {
    const vm = {
      id: row.vm_id,
      memoryMb: row.memory_mb,
      memoryDirtyRateMbps: row.memory_dirty_rate_mbps ?? undefined,
      macAddress: row.mac_address ?? macAddressFor(row.vm_id),
      datastores: row.datastores,
      diskMb: row.disk_mb ?? undefined,
    };
    const source = { id: row.source_host_id, migrationBandwidthMbps: row.source_mbps ?? undefined };
    const target = { id: row.target_host_id, migrationBandwidthMbps: row.target_mbps ?? undefined };
    const request: MigrationRequest = {
      migrationId: row.id,
      kind: row.kind === 'storage' ? 'storage' : 'compute',
      vm,
      source,
      target,
      sourceDatastoreId: row.source_datastore_id ?? undefined,
      targetDatastoreId: row.target_datastore_id ?? undefined,
      downtimeLimitMs: this.config.MIGRATION_DOWNTIME_LIMIT_MS,
    };
    const restart = row.kind === 'restart' ? { restart: { migrationId: row.id, vm, failedHost: source, target } } : {};
    return { migrationId: row.id, clusterId: row.cluster_id, request, priority: row.priority, ...restart };
  }
}
