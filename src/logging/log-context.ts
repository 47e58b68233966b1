import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The ids a log line carries without its caller passing them: the request id and the caller's key
 * (set by the request middleware and the auth guard), the cluster, plan and migration a piece of
 * work is about (set where that work starts). Every log line of the same async flow gets them.
 */
export interface LogFields {
  requestId?: string;
  keyId?: string;
  clusterId?: string;
  planId?: string;
  migrationId?: string;
  operationId?: string;
  hostId?: string;
  vmId?: string;
}

const storage = new AsyncLocalStorage<LogFields>();

/** Runs `fn` with `fields` added to every log line written inside it. */
export function withLogFields<T>(fields: LogFields, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...fields }, fn);
}

/** Adds fields to the current flow (a guard that learns the caller's key after the request began). */
export function addLogFields(fields: LogFields): void {
  const store = storage.getStore();
  if (store) Object.assign(store, fields);
}

export function currentLogFields(): LogFields {
  return storage.getStore() ?? {};
}
