import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { AuditTargets } from './audit-routes.js';

export interface NewAuditEvent {
  at: Date;
  keyId: string | null;
  keyName: string;
  keyRole: string;
  method: string;
  route: string;
  kind: string;
  action: string;
  targets: AuditTargets;
  targetIds: string[];
  status: number;
  message: string | null;
  requestId: string | null;
  before: unknown;
  after: unknown;
}

export interface AuditEventRow {
  id: string;
  at: Date;
  key_id: string | null;
  key_name: string;
  key_role: string;
  method: string;
  route: string;
  kind: string;
  action: string;
  targets: AuditTargets;
  status: number;
  message: string | null;
  request_id: string | null;
  before: unknown;
  after: unknown;
}

export type AuditOutcome = 'succeeded' | 'refused' | 'failed';

export interface AuditFilter {
  keyId?: string;
  method?: string;
  targetId?: string;
  route?: string;
  kind?: string;
  action?: string;
  from?: Date;
  to?: Date;
  outcome?: AuditOutcome;
  status?: number;
  /** Rows older than this cursor (an id of the previous page's last row). */
  before?: string;
}

const STATUS_OF_OUTCOME: Record<AuditOutcome, string> = {
  succeeded: 'status < 400',
  refused: 'status BETWEEN 400 AND 499',
  failed: 'status >= 500',
};

const COLUMNS = 'id::text AS id, at, key_id, key_name, key_role, method, route, kind, action, targets, status, message, request_id, before, after';

/** The audit_events table's SQL. */
@Injectable()
export class AuditRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async insert(recorded: NewAuditEvent): Promise<void> {
    const event = withoutNul(recorded);
    await this.db.query(
      `INSERT INTO audit_events (at, key_id, key_name, key_role, method, route, kind, action, targets, target_ids, status, message, request_id, before, after)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
      [
        event.at,
        event.keyId,
        event.keyName,
        event.keyRole,
        event.method,
        event.route,
        event.kind,
        event.action,
        JSON.stringify(event.targets),
        event.targetIds,
        event.status,
        event.message,
        event.requestId,
        event.before === undefined ? null : JSON.stringify(event.before),
        event.after === undefined ? null : JSON.stringify(event.after),
      ],
    );
  }

  /** Newest first (by the order rows were recorded), at most `limit`, older than the filter's cursor. */
  async page(filter: AuditFilter, limit: number): Promise<AuditEventRow[]> {
    const conditions: string[] = [];
    const values: unknown[] = [];
    const where = (sql: (placeholder: string) => string, value: unknown) => {
      values.push(value);
      conditions.push(sql(`$${values.length}`));
    };
    if (filter.keyId !== undefined) where((p) => `key_id = ${p}`, filter.keyId);
    if (filter.method !== undefined) where((p) => `method = ${p}`, filter.method);
    if (filter.targetId !== undefined) where((p) => `target_ids @> ARRAY[${p}::text]`, filter.targetId);
    if (filter.route !== undefined) where((p) => `route = ${p}`, filter.route);
    if (filter.kind !== undefined) where((p) => `kind = ${p}`, filter.kind);
    if (filter.action !== undefined) where((p) => `action = ${p}`, filter.action);
    if (filter.from !== undefined) where((p) => `at >= ${p}`, filter.from);
    if (filter.to !== undefined) where((p) => `at < ${p}`, filter.to);
    if (filter.status !== undefined) where((p) => `status = ${p}`, filter.status);
    if (filter.before !== undefined) where((p) => `id < ${p}::bigint`, filter.before);
    if (filter.outcome !== undefined) conditions.push(STATUS_OF_OUTCOME[filter.outcome]);
    values.push(limit);
    return (await this.db.query(
      `SELECT ${COLUMNS} FROM audit_events ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''} ORDER BY audit_events.id DESC LIMIT $${values.length}`,
      values,
    )) as AuditEventRow[];
  }

  /**
   * Deletes the rows recorded before `cutoff`, a batch at a time (a first purge of a large trail
   * would otherwise be one long transaction); answers how many went.
   */
  async deleteOlderThan(cutoff: Date, batch = 10_000): Promise<number> {
    let total = 0;
    for (;;) {
      const [, count] = (await this.db.query(
        `DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < $1 LIMIT $2)`,
        [cutoff, batch],
      )) as [unknown, number];
      total += count;
      if (count < batch) return total;
    }
  }
}

/**
 * PostgreSQL's text and jsonb take no NUL character, and a refused request may well carry one (in
 * its path, say): the row keeps the request with U+FFFD in its place, rather than being lost.
 */
function withoutNul<T>(value: T): T {
  if (typeof value === 'string') return value.replaceAll('\u0000', '\uFFFD') as T;
  if (Array.isArray(value)) return value.map(withoutNul) as T;
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [withoutNul(key), withoutNul(v)])) as T;
  }
  return value;
}
