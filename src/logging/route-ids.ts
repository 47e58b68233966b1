import type { LogFields } from './log-context.js';

/** The log field of the id that follows each resource in a route's path (`/api/v1/plans/:id/approve`). */
const FIELD_OF_RESOURCE: Record<string, keyof LogFields> = {
  clusters: 'clusterId',
  plans: 'planId',
  migrations: 'migrationId',
  hosts: 'hostId',
  vms: 'vmId',
  maintenance: 'operationId',
};

/**
 * The ids a request is about, from the route it matched and its parameters: what a request's log
 * line says beside the key that made it. Ids of other things (a key, a rule, a webhook) are left
 * out: `keyId` is the caller's, and the rest is in the path.
 */
export function routeLogFields(routePath: string | undefined, params: Record<string, unknown> | undefined): LogFields {
  return routeIds(routePath, params, FIELD_OF_RESOURCE);
}

/**
 * The ids in a route's path, each under the field `fieldOfResource` gives the resource before it
 * (`/api/v1/hosts/:id/maintenance` with `{ hosts: 'hostId' }` is `{ hostId: <id> }`).
 */
export function routeIds<Field extends string>(
  routePath: string | undefined,
  params: Record<string, unknown> | undefined,
  fieldOfResource: Record<string, Field>,
): Partial<Record<Field, string>> {
  if (!routePath || !params) return {};
  const fields: Partial<Record<Field, string>> = {};
  const segments = routePath.split('/');
  for (let i = 1; i < segments.length; i++) {
    const field = Object.hasOwn(fieldOfResource, segments[i - 1]) ? fieldOfResource[segments[i - 1]] : undefined;
    const value = segments[i].startsWith(':') ? params[segments[i].slice(1)] : undefined;
    if (field && typeof value === 'string' && value !== '') fields[field] = value;
  }
  return fields;
}
