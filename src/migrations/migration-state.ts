/**
 * The migration state machine: pending -> queued -> running -> succeeded | failed | cancelled.
 * `running -> queued` is a retry after a transient engine error. Every transition is a row in the
 * migration's history.
 */
export const MIGRATION_STATES = ['pending', 'queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type MigrationState = (typeof MIGRATION_STATES)[number];

export const ACTIVE_STATES: readonly MigrationState[] = ['pending', 'queued', 'running'];
/** Queued and running migrations hold their hosts' and cluster's migration slots. */
export const IN_FLIGHT_STATES: readonly MigrationState[] = ['queued', 'running'];
export const FINAL_STATES: readonly MigrationState[] = ['succeeded', 'failed', 'cancelled'];

const NEXT: Record<MigrationState, readonly MigrationState[]> = {
  pending: ['queued', 'cancelled'],
  queued: ['running', 'cancelled'],
  running: ['succeeded', 'failed', 'cancelled', 'queued'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

export function canTransition(from: MigrationState, to: MigrationState): boolean {
  return NEXT[from].includes(to);
}

export function isFinal(state: MigrationState): boolean {
  return FINAL_STATES.includes(state);
}

export const MIGRATION_KINDS = ['compute', 'storage'] as const;
