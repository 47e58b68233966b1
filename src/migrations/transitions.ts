import type { EntityManager } from 'typeorm';
import type { MigrationProgress, MigrationResult } from '../engine/migration-engine.js';
import type { MigrationState } from './migration-state.js';

/** A guarded state change: it applies only if the migration is still in one of `from`. */
export interface Transition {
  migrationId: string;
  from: readonly MigrationState[];
  to: MigrationState;
  /** The history row's type: `state` unless said otherwise (`retry`, `reconciled`). */
  eventType?: string;
  detail?: Record<string, unknown>;
  /** Replaces the migration's error (null clears it). */
  error?: string | null;
  result?: MigrationResult;
  countAttempt?: boolean;
}

/** A history row that is not a guarded state change: creation, a progress milestone, a cancel request. */
export interface MigrationEvent {
  migrationId: string;
  type: string;
  /** For the creation of a migration: the state it starts in. */
  toState?: MigrationState;
  detail: Record<string, unknown>;
  /** The latest progress, kept on the migration itself for quick reads. */
  progress?: MigrationProgress;
}

/**
 * One statement writes a whole batch: the state changes (guarded), their history rows, the VMs'
 * new placement for migrations that succeeded (so a placement changes only together with its
 * migration's success), and the other events. Returns the indexes of the transitions applied.
 */
const SQL = `
WITH t AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
    i int, id uuid, from_states text[], to_state text, event_type text, detail jsonb,
    set_error boolean, error text, result jsonb, count_attempt boolean)
),
prev AS (
  SELECT m.id, m.state AS from_state FROM migrations m JOIN t ON t.id = m.id
  WHERE m.state = ANY(t.from_states) FOR UPDATE OF m
),
upd AS (
  UPDATE migrations m SET
    state = t.to_state,
    updated_at = now(),
    queued_at = CASE WHEN t.to_state = 'queued' THEN now() ELSE m.queued_at END,
    started_at = CASE WHEN t.to_state = 'running' THEN now() ELSE m.started_at END,
    finished_at = CASE WHEN t.to_state IN ('succeeded', 'failed', 'cancelled') THEN now() ELSE m.finished_at END,
    attempts = m.attempts + CASE WHEN t.count_attempt THEN 1 ELSE 0 END,
    error = CASE WHEN t.set_error THEN t.error ELSE m.error END,
    result = coalesce(t.result, m.result)
  FROM t JOIN prev ON prev.id = t.id
  WHERE m.id = t.id
  RETURNING m.id, m.kind, m.vm_id, m.state, m.target_host_id, m.source_datastore_id, m.target_datastore_id,
            prev.from_state, t.i, t.event_type, t.detail
),
state_events AS (
  INSERT INTO migration_events (migration_id, type, from_state, to_state, detail)
  SELECT id, event_type, from_state, state, detail FROM upd ORDER BY i
),
placed AS (
  UPDATE vms v SET host_id = upd.target_host_id, last_migrated_at = now(), updated_at = now()
  FROM upd WHERE upd.state = 'succeeded' AND upd.kind = 'compute' AND v.id = upd.vm_id
),
restored AS (
  UPDATE vms v SET datastores = array_replace(v.datastores, upd.source_datastore_id, upd.target_datastore_id), updated_at = now()
  FROM upd WHERE upd.state = 'succeeded' AND upd.kind = 'storage' AND v.id = upd.vm_id
),
e AS (
  SELECT * FROM jsonb_to_recordset($2::jsonb) AS y(n int, id uuid, type text, to_state text, detail jsonb, progress jsonb)
),
other_events AS (
  INSERT INTO migration_events (migration_id, type, to_state, detail) SELECT id, type, to_state, detail FROM e ORDER BY n
),
latest_progress AS (
  UPDATE migrations m SET progress = lp.progress
  FROM (SELECT DISTINCT ON (id) id, progress FROM e WHERE progress IS NOT NULL ORDER BY id, n DESC) lp
  WHERE m.id = lp.id AND NOT EXISTS (SELECT 1 FROM t WHERE t.id = lp.id)
)
SELECT i FROM upd`;

export async function writeTransitions(
  manager: EntityManager,
  transitions: readonly Transition[],
  events: readonly MigrationEvent[] = [],
): Promise<Set<number>> {
  if (transitions.length === 0 && events.length === 0) return new Set();
  const t = transitions.map((tr, i) => ({
    i,
    id: tr.migrationId,
    from_states: tr.from,
    to_state: tr.to,
    event_type: tr.eventType ?? 'state',
    detail: tr.detail ?? null,
    set_error: tr.error !== undefined,
    error: tr.error ?? null,
    result: tr.result ?? null,
    count_attempt: tr.countAttempt ?? false,
  }));
  const e = events.map((ev, n) => ({
    n,
    id: ev.migrationId,
    type: ev.type,
    to_state: ev.toState ?? null,
    detail: ev.detail,
    progress: ev.progress ?? null,
  }));
  const rows: { i: number }[] = await manager.query(SQL, [JSON.stringify(t), JSON.stringify(e)]);
  return new Set(rows.map((r) => r.i));
}

/**
 * Cancels the pending migrations that wait, directly or through others, for one that did not
 * succeed: the room or the order they were planned with will not come.
 */
export async function cancelDependents(manager: EntityManager, migrationId: string): Promise<number> {
  const rows: { id: string; blocker: string }[] = await manager.query(
    `WITH RECURSIVE waiting(id, blocker) AS (
       SELECT d.migration_id, d.depends_on FROM migration_dependencies d WHERE d.depends_on = $1
       UNION
       SELECT d.migration_id, w.id FROM migration_dependencies d JOIN waiting w ON d.depends_on = w.id
     )
     SELECT DISTINCT ON (w.id) w.id, w.blocker FROM waiting w JOIN migrations m ON m.id = w.id WHERE m.state = 'pending'`,
    [migrationId],
  );
  const applied = await writeTransitions(
    manager,
    rows.map((row) => ({
      migrationId: row.id,
      from: ['pending'],
      to: 'cancelled',
      error: `an earlier move it depends on (migration ${row.blocker}) did not succeed`,
      detail: { dependsOn: row.blocker },
    })),
  );
  return applied.size;
}
