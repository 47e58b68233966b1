import { routeIds } from '../logging/route-ids.js';

/** The methods that change something: each request with one of them on /api/v1 is audited. */
export const AUDITED_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE'] as const;
export type AuditedMethod = (typeof AUDITED_METHODS)[number];

export const AUDIT_KINDS = ['cluster', 'host', 'vm', 'rule', 'plan', 'migration', 'maintenance', 'key', 'webhook', 'metrics', 'other'] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

/** Whose state an audit row keeps before and after the change (read by AuditTrail.readState). */
export type StateKind = 'cluster' | 'host' | 'vm' | 'rule' | 'key';

/** The names of the ids an audit row's `targets` holds. */
export type TargetField = 'clusterId' | 'hostId' | 'vmId' | 'ruleId' | 'planId' | 'migrationId' | 'operationId' | 'apiKeyId' | 'webhookId';

export interface AuditedRoute {
  kind: AuditKind;
  /** What the request does to its kind: create, update, delete, import, approve, ... */
  action: string;
  /** The state kept before and after; the id is the route's `:id`, else the answer's (a create). */
  state?: StateKind;
  /** The change removes the thing: there is no state after it. */
  removes?: boolean;
  /** The target the answer names by its `id`, or by a field of this name (what a create made). */
  answerId?: TargetField;
  /**
   * The answer goes out without waiting for the audit row (which is still written, with the status
   * answered): for the metrics push, which agents send many times a minute, a wait for a second
   * write per batch cost more throughput than the row's being visible at once is worth.
   */
  answersBeforeRecorded?: boolean;
}

/**
 * Every route that changes something, by method and Express path. test/audit.e2e.spec.ts checks
 * the server has no changing route missing here, so a new one is named when it is added.
 */
export const AUDITED_ROUTES: Record<string, AuditedRoute> = {
  'POST /api/v1/clusters': { kind: 'cluster', action: 'create', state: 'cluster', answerId: 'clusterId' },
  'POST /api/v1/clusters/import': { kind: 'cluster', action: 'import', state: 'cluster', answerId: 'clusterId' },
  'PATCH /api/v1/clusters/:id': { kind: 'cluster', action: 'update', state: 'cluster' },
  'DELETE /api/v1/clusters/:id': { kind: 'cluster', action: 'delete', state: 'cluster', removes: true },
  'POST /api/v1/clusters/:id/discover': { kind: 'cluster', action: 'discover', state: 'cluster' },
  'POST /api/v1/hosts': { kind: 'host', action: 'create', state: 'host', answerId: 'hostId' },
  'PATCH /api/v1/hosts/:id': { kind: 'host', action: 'update', state: 'host' },
  'DELETE /api/v1/hosts/:id': { kind: 'host', action: 'delete', state: 'host', removes: true },
  'POST /api/v1/hosts/:id/health': { kind: 'host', action: 'report-health' },
  'POST /api/v1/vms': { kind: 'vm', action: 'create', state: 'vm', answerId: 'vmId' },
  'PATCH /api/v1/vms/:id': { kind: 'vm', action: 'update', state: 'vm' },
  'DELETE /api/v1/vms/:id': { kind: 'vm', action: 'delete', state: 'vm', removes: true },
  'POST /api/v1/vms/:id/migrate': { kind: 'migration', action: 'migrate', answerId: 'migrationId' },
  'POST /api/v1/vms/:id/relocate-storage': { kind: 'migration', action: 'relocate-storage', answerId: 'migrationId' },
  'POST /api/v1/rules': { kind: 'rule', action: 'create', state: 'rule', answerId: 'ruleId' },
  'PATCH /api/v1/rules/:id': { kind: 'rule', action: 'update', state: 'rule' },
  'DELETE /api/v1/rules/:id': { kind: 'rule', action: 'delete', state: 'rule', removes: true },
  'POST /api/v1/clusters/:id/plans': { kind: 'plan', action: 'create', answerId: 'planId' },
  'POST /api/v1/plans/:id/approve': { kind: 'plan', action: 'approve' },
  'POST /api/v1/plans/:id/reject': { kind: 'plan', action: 'reject' },
  'POST /api/v1/migrations/:id/cancel': { kind: 'migration', action: 'cancel' },
  'POST /api/v1/hosts/:id/maintenance': { kind: 'maintenance', action: 'enter', state: 'host', answerId: 'operationId' },
  'DELETE /api/v1/hosts/:id/maintenance': { kind: 'maintenance', action: 'exit', state: 'host', answerId: 'operationId' },
  'POST /api/v1/maintenance/:id/cancel': { kind: 'maintenance', action: 'cancel' },
  'POST /api/v1/maintenance/:id/retry': { kind: 'maintenance', action: 'retry' },
  'POST /api/v1/keys': { kind: 'key', action: 'create', state: 'key', answerId: 'apiKeyId' },
  'DELETE /api/v1/keys/:id': { kind: 'key', action: 'revoke', state: 'key' },
  'POST /api/v1/webhooks': { kind: 'webhook', action: 'create', answerId: 'webhookId' },
  'DELETE /api/v1/webhooks/:id': { kind: 'webhook', action: 'delete' },
  'POST /api/v1/metrics': { kind: 'metrics', action: 'push', answersBeforeRecorded: true },
};

/** A changing route missing from AUDITED_ROUTES is still audited, as `other`. */
export function auditedRoute(method: string, route: string): AuditedRoute {
  return AUDITED_ROUTES[`${method} ${route}`] ?? { kind: 'other', action: method.toLowerCase() };
}

/** The target field of the id after each resource in a route's path. */
const TARGET_OF_RESOURCE: Record<string, TargetField> = {
  clusters: 'clusterId',
  hosts: 'hostId',
  vms: 'vmId',
  rules: 'ruleId',
  plans: 'planId',
  migrations: 'migrationId',
  maintenance: 'operationId',
  keys: 'apiKeyId',
  webhooks: 'webhookId',
};

export type AuditTargets = Partial<Record<TargetField, string>> & { migrationIds?: string[] };

/** The ids a request is about, from its route's parameters (a create's own id comes from its answer). */
export function routeTargets(route: string | undefined, params: Record<string, unknown> | undefined): AuditTargets {
  return routeIds(route, params, TARGET_OF_RESOURCE);
}

/** The ids a successful answer adds: what it created, and the migrations an approval started. */
export function answerTargets(route: AuditedRoute, answer: unknown): AuditTargets {
  if (answer === null || typeof answer !== 'object') return {};
  const fields = answer as Record<string, unknown>;
  const targets: AuditTargets = {};
  if (route.answerId) {
    const id = fields.id ?? fields[route.answerId];
    if (typeof id === 'string' && id !== '') targets[route.answerId] = id;
  }
  if (Array.isArray(fields.migrationIds) && fields.migrationIds.every((m) => typeof m === 'string')) {
    targets.migrationIds = fields.migrationIds as string[];
  }
  return targets;
}

/** Every id of the targets, for the indexed "anything that touched this id" filter. */
export function targetIdsOf(targets: AuditTargets): string[] {
  return [...new Set(Object.values(targets).flat())];
}
