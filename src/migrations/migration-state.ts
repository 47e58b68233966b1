/**
 * The migration state machine: pending -> queued -> running -> succeeded | failed | cancelled.
 * `running -> queued` is a retry after a transient engine error. Every transition is a row in the
 * migration's history.
 *
 * The sets of states that the code and its SQL ask about are named here, once.
 */
export const MIGRATION_STATES = ['pending', 'queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type MigrationState = (typeof MIGRATION_STATES)[number];

/** Not ended yet: the VM is spoken for (it cannot be moved by hand, deleted or planned again). */
export const UNFINISHED_STATES = ['pending', 'queued', 'running'] as const satisfies readonly MigrationState[];
export type UnfinishedState = (typeof UNFINISHED_STATES)[number];
/** Started: holds its hosts' and its cluster's migration slots until it ends. */
export const SLOT_HOLDING_STATES = ['queued', 'running'] as const satisfies readonly MigrationState[];
/** Not running yet: cancelling one ends it at once (a running one is asked to stop). */
export const NOT_STARTED_STATES = ['pending', 'queued'] as const satisfies readonly MigrationState[];
export type NotStartedState = (typeof NOT_STARTED_STATES)[number];
/** Ended without moving the VM. */
export const UNSUCCESSFUL_STATES = ['failed', 'cancelled'] as const satisfies readonly MigrationState[];
export const FINAL_STATES = ['succeeded', 'failed', 'cancelled'] as const satisfies readonly MigrationState[];

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
  return (FINAL_STATES as readonly MigrationState[]).includes(state);
}

export function isUnfinished(state: MigrationState): state is UnfinishedState {
  return (UNFINISHED_STATES as readonly MigrationState[]).includes(state);
}

/**
 * A state set as an SQL list, `('pending', 'queued', 'running')`, written into the statement's text
 * rather than passed as a parameter: PostgreSQL then sees that a query matches the partial indexes
 * made for these sets (`migrations_active_idx`, `migrations_one_in_flight_per_vm`).
 */
export function sqlStates(states: readonly MigrationState[]): string {
  return `(${states.map((s) => `'${s}'`).join(', ')})`;
}

/** `restart`: an HA restart of a failed host's VM on another host (a cold boot from shared storage, not a live move). */
export const MIGRATION_KINDS = ['compute', 'storage', 'restart'] as const;
export type MigrationRowKind = (typeof MIGRATION_KINDS)[number];
/** Kinds that put the VM on another host when they succeed (the planner sees them in flight on their target). */
export const HOST_CHANGING_KINDS = ['compute', 'restart'] as const satisfies readonly MigrationRowKind[];
export function sqlKinds(kinds: readonly MigrationRowKind[]): string {
  return `(${kinds.map((k) => `'${k}'`).join(', ')})`;
}
/** The reason of an HA restart's migrations row. */
export const HA_RESTART_REASON = 'ha-restart';
