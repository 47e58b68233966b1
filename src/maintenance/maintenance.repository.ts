import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { isUuid, type Page } from '../common/query-params.js';
import { ACTIVE_OPERATION_STATES, MaintenanceOperationEntity, type OperationState } from './maintenance.entity.js';
import { type OperationFacts, THROUGHPUT_WINDOW_MS } from './operation-view.js';
import { sqlStates, UNFINISHED_STATES } from '../migrations/migration-state.js';

interface FactsRow {
  id: string;
  observedAt: Date;
  host: { state: OperationFacts['hostState']; linkMbps: number | null } | null;
  vms: OperationFacts['vms'];
  migrations: (Omit<OperationFacts['migrations'][number], 'createdAt' | 'finishedAt'> & { createdAt: string; finishedAt: string | null })[];
  events: { at: string; type: string; detail: Record<string, unknown> | null }[];
}

/**
 * Everything the views of a page of operations need, in one statement: the host, the VMs, the
 * operation's migrations away from the host with their latest progress row and the one written by
 * the start of the throughput window, and the operation's history. Times are the database's: the
 * window is the last $2 ms of the statement's time, or less when the operation is younger.
 */
const FACTS_SQL = `
  SELECT o.id, w.observed_at AS "observedAt",
    (SELECT json_build_object('state', h.state, 'linkMbps', h.migration_bandwidth_mbps) FROM hosts h WHERE h.id = o.host_id) AS host,
    (SELECT coalesce(json_agg(json_build_object('id', v.id, 'hostId', v.host_id, 'memoryMb', v.memory_mb)), '[]')
     FROM vms v WHERE v.id = ANY(o.vm_ids)) AS vms,
    (SELECT coalesce(json_agg(json_build_object(
              'id', m.id, 'vmId', m.vm_id, 'state', m.state, 'targetHostId', m.target_host_id, 'error', m.error,
              'createdAt', m.created_at, 'finishedAt', m.finished_at,
              'transferredBytes', coalesce((m.result->>'transferredBytes')::float8, (latest.detail->>'transferredBytes')::float8),
              'remainingBytes', (latest.detail->>'remainingBytes')::float8,
              'transferredAtWindowStart', (before.detail->>'transferredBytes')::float8)), '[]')
     FROM migrations m
     LEFT JOIN LATERAL (SELECT e.detail FROM migration_events e WHERE e.migration_id = m.id AND e.type = 'progress'
                        ORDER BY e.id DESC LIMIT 1) latest ON true
     LEFT JOIN LATERAL (SELECT e.detail FROM migration_events e WHERE e.migration_id = m.id AND e.type = 'progress' AND e.at <= w.start
                        ORDER BY e.id DESC LIMIT 1) before ON true
     WHERE m.operation_id = o.id AND m.target_host_id <> o.host_id) AS migrations,
    (SELECT coalesce(json_agg(json_build_object('at', e.at, 'type', e.type, 'detail', e.detail) ORDER BY e.id), '[]')
     FROM maintenance_events e WHERE e.operation_id = o.id) AS events
  FROM maintenance_operations o
  CROSS JOIN LATERAL (SELECT statement_timestamp() AS observed_at,
                             greatest(statement_timestamp() - make_interval(secs => $2::float8 / 1000), o.created_at) AS start) w
  WHERE o.id = ANY($1::uuid[])`;

/** The SQL of the maintenance tables (operations and their history). */
@Injectable()
export class MaintenanceRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async find(id: string, manager: EntityManager = this.db.manager, lock = false): Promise<MaintenanceOperationEntity | null> {
    if (!isUuid(id)) return null;
    return manager.findOne(MaintenanceOperationEntity, { where: { id }, lock: lock ? { mode: 'pessimistic_write' } : undefined });
  }

  async page(
    filter: { hostId?: string; clusterId?: string; state?: OperationState },
    page: { limit: number; offset: number },
  ): Promise<Omit<Page<MaintenanceOperationEntity>, 'limit' | 'offset'>> {
    const [items, total] = await this.db.getRepository(MaintenanceOperationEntity).findAndCount({
      where: {
        ...(filter.hostId ? { hostId: filter.hostId } : {}),
        ...(filter.clusterId ? { clusterId: filter.clusterId } : {}),
        ...(filter.state ? { state: filter.state } : {}),
      },
      order: { createdAt: 'DESC' },
      take: page.limit,
      skip: page.offset,
    });
    return { items, total };
  }

  /** The host's latest operation. */
  async latestOfHost(manager: EntityManager, hostId: string): Promise<MaintenanceOperationEntity | undefined> {
    const [last] = await manager.find(MaintenanceOperationEntity, { where: { hostId }, order: { createdAt: 'DESC' }, take: 1 });
    return last;
  }

  /** Operations not ended, oldest first. */
  async activeIds(): Promise<string[]> {
    const rows: { id: string }[] = await this.db.query(
      `SELECT id FROM maintenance_operations WHERE state = ANY($1) ORDER BY created_at`,
      [ACTIVE_OPERATION_STATES],
    );
    return rows.map((r) => r.id);
  }

  /**
   * Hosts in entering-maintenance that no operation evacuates (imported or set so; the closed loop
   * evacuates them) and that hold no VM, powered off or not, and take part in no unfinished migration.
   */
  async emptiedWithoutOperation(manager: EntityManager): Promise<{ id: string; clusterId: string }[]> {
    return manager.query(
      `SELECT h.id, h.cluster_id AS "clusterId" FROM hosts h
       WHERE h.state = 'entering-maintenance'
         AND NOT EXISTS (SELECT 1 FROM maintenance_operations o WHERE o.host_id = h.id AND o.state = ANY($1))
         AND NOT EXISTS (SELECT 1 FROM vms v WHERE v.host_id = h.id)
         AND NOT EXISTS (SELECT 1 FROM migrations m WHERE (m.source_host_id = h.id OR m.target_host_id = h.id) AND m.state IN ${sqlStates(UNFINISHED_STATES)})
       ORDER BY h.id`,
      [ACTIVE_OPERATION_STATES],
    );
  }

  async event(manager: EntityManager, operationId: string, type: string, detail: Record<string, unknown>): Promise<void> {
    await manager.query(`INSERT INTO maintenance_events (operation_id, type, detail) VALUES ($1, $2, $3)`, [operationId, type, detail]);
  }

  /** What the views of these operations are made of now, by operation id. */
  async facts(operationIds: string[], manager: EntityManager = this.db.manager): Promise<Map<string, OperationFacts>> {
    if (operationIds.length === 0) return new Map();
    const rows: FactsRow[] = await manager.query(FACTS_SQL, [operationIds, THROUGHPUT_WINDOW_MS]);
    return new Map(
      rows.map((row) => [
        row.id,
        {
          observedAt: row.observedAt,
          hostState: row.host?.state ?? null,
          hostLinkMbps: row.host?.linkMbps ?? null,
          vms: row.vms,
          migrations: row.migrations.map((m) => ({ ...m, createdAt: new Date(m.createdAt), finishedAt: m.finishedAt ? new Date(m.finishedAt) : null })),
          events: row.events.map((e) => ({ ...e, at: new Date(e.at) })),
        },
      ]),
    );
  }
}
