import type { EntityManager } from 'typeorm';
import { queryPrepared } from '../database/prepared.js';
import type { MigrationResult, RestartResult } from '../engine/migration-engine.js';
import { FINAL_STATES, HOST_CHANGING_KINDS, type MigrationState, sqlKinds, sqlStates } from './migration-state.js';

/** A guarded state change: it applies only if the migration is still in state `from`. */
export interface Transition {
  migrationId: string;
  from: MigrationState;
  to: MigrationState;
  /** The history row's type: `state` unless said otherwise (`retry`, `reconciled`). */
  eventType?: string;
  detail?: Record<string, unknown>;
  /** Replaces the migration's error (null clears it). */
  error?: string | null;
  result?: MigrationResult | RestartResult;
  /** The planner's expectation of the migration, set once it starts. */
  prediction?: Record<string, unknown> | null;
  countAttempt?: boolean;
}

/** A history row that is not a guarded state change: creation, a progress milestone, a cancel request. */
export interface MigrationEvent {
  migrationId: string;
  type: string;
  /** For the creation of a migration: the state it starts in. */
  toState?: MigrationState;
  detail: Record<string, unknown>;
}

export type JournalEntry = ({ kind: 'transition' } & Transition) | ({ kind: 'event' } & MigrationEvent);

/**
 * Times are clock_timestamp(), the moment of the change, not now() (the start of the transaction,
 * which may have waited for a lock): the history then shows the true order of slots freed and taken.
 *
 * One statement writes a whole batch: the state changes (guarded), the VMs' new placement for
 * migrations that succeeded (so a placement changes only together with its migration's success),
 * and every history row, in the order of the entries. Returns the transitions applied, by position.
 */
const SQL = `
WITH t AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
    seq int, id uuid, from_state text, to_state text, event_type text, detail jsonb,
    set_error boolean, error text, result jsonb, prediction jsonb, count_attempt boolean)
),
upd AS (
  UPDATE migrations m SET
    state = t.to_state,
    updated_at = clock_timestamp(),
    queued_at = CASE WHEN t.to_state = 'queued' THEN clock_timestamp() ELSE m.queued_at END,
    started_at = CASE WHEN t.to_state = 'running' THEN clock_timestamp() ELSE m.started_at END,
    finished_at = CASE WHEN t.to_state IN ${sqlStates(FINAL_STATES)} THEN clock_timestamp() ELSE m.finished_at END,
    attempts = m.attempts + CASE WHEN t.count_attempt THEN 1 ELSE 0 END,
    error = CASE WHEN t.set_error THEN t.error ELSE m.error END,
    result = coalesce(t.result, m.result),
    prediction = coalesce(t.prediction, m.prediction)
  FROM t
  WHERE m.id = ANY($3::uuid[]) AND m.id = t.id AND m.state = t.from_state
  RETURNING m.id, m.kind, m.vm_id, m.state, m.target_host_id, m.source_datastore_id, m.target_datastore_id,
            m.cancel_requested, m.attempts, t.from_state, t.seq, t.event_type,
            CASE WHEN t.count_attempt THEN coalesce(t.detail, '{}'::jsonb) || jsonb_build_object('attempt', m.attempts) ELSE t.detail END AS detail
),
placed AS (
  -- A restart (HA) puts the VM on its target too, and it is up again.
  UPDATE vms v SET host_id = upd.target_host_id, updated_at = now(),
    last_migrated_at = CASE WHEN upd.kind = 'compute' THEN now() ELSE v.last_migrated_at END,
    down_since = CASE WHEN upd.kind = 'restart' THEN NULL ELSE v.down_since END
  FROM upd WHERE upd.state = 'succeeded' AND upd.kind IN ${sqlKinds(HOST_CHANGING_KINDS)} AND v.id = upd.vm_id
),
restored AS (
  UPDATE vms v SET datastores = array_replace(v.datastores, upd.source_datastore_id, upd.target_datastore_id), updated_at = now()
  FROM upd WHERE upd.state = 'succeeded' AND upd.kind = 'storage' AND v.id = upd.vm_id
),
e AS (
  SELECT * FROM jsonb_to_recordset($2::jsonb) AS y(seq int, id uuid, type text, to_state text, detail jsonb)
),
history AS (
  INSERT INTO migration_events (migration_id, type, from_state, to_state, detail)
  SELECT id, type, from_state, to_state, detail FROM (
    SELECT seq, id, event_type AS type, from_state, state AS to_state, detail FROM upd
    UNION ALL
    SELECT seq, id, type, NULL, to_state, detail FROM e
  ) rows ORDER BY seq
)
SELECT seq, cancel_requested, attempts FROM upd`;

/** A transition that applied: whether an operator has asked to cancel its migration, and its attempts so far (this one included). */
export interface Applied {
  cancelRequested: boolean;
  attempts: number;
}

export async function writeJournal(manager: EntityManager, entries: readonly JournalEntry[]): Promise<Map<number, Applied>> {
  if (entries.length === 0) return new Map();
  const t: object[] = [];
  const e: object[] = [];
  entries.forEach((entry, seq) => {
    if (entry.kind === 'transition') {
      t.push({
        seq,
        id: entry.migrationId,
        from_state: entry.from,
        to_state: entry.to,
        event_type: entry.eventType ?? 'state',
        detail: entry.detail ?? null,
        set_error: entry.error !== undefined,
        error: entry.error ?? null,
        result: entry.result ?? null,
        prediction: entry.prediction ?? null,
        count_attempt: entry.countAttempt ?? false,
      });
    } else {
      e.push({ seq, id: entry.migrationId, type: entry.type, to_state: entry.toState ?? null, detail: entry.detail });
    }
  });
  // The ids again as an array: with it the planner finds the rows by key, whatever it guesses of the JSON's size.
  const ids = entries.filter((entry) => entry.kind === 'transition').map((entry) => entry.migrationId);
  const rows = await queryPrepared<{ seq: number; cancel_requested: boolean; attempts: number }>(manager, 'ballast-journal', SQL, [
    JSON.stringify(t),
    JSON.stringify(e),
    ids,
  ]);
  return new Map(rows.map((r) => [r.seq, { cancelRequested: r.cancel_requested, attempts: r.attempts }]));
}

/** Transitions (then events) in one go; returns the transitions applied, by index. */
export function writeTransitions(
  manager: EntityManager,
  transitions: readonly Transition[],
  events: readonly MigrationEvent[] = [],
): Promise<Map<number, Applied>> {
  return writeJournal(manager, [
    ...transitions.map((tr) => ({ kind: 'transition' as const, ...tr })),
    ...events.map((ev) => ({ kind: 'event' as const, ...ev })),
  ]);
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
      from: 'pending',
      to: 'cancelled',
      error: `an earlier move it depends on (migration ${row.blocker}) did not succeed`,
      detail: { dependsOn: row.blocker },
    })),
  );
  return applied.size;
}
