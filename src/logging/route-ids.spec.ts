import { describe, expect, it } from '@jest/globals';
import { routeLogFields } from './route-ids.js';

describe('routeLogFields', () => {
  it('names the cluster, plan, migration, host and VM a route is about', () => {
    expect(routeLogFields('/api/v1/clusters/:id/status', { id: 'lab' })).toEqual({ clusterId: 'lab' });
    expect(routeLogFields('/api/v1/plans/:id/approve', { id: 'p-1' })).toEqual({ planId: 'p-1' });
    expect(routeLogFields('/api/v1/migrations/:id/cancel', { id: 'm-1' })).toEqual({ migrationId: 'm-1' });
    expect(routeLogFields('/api/v1/hosts/:id/maintenance', { id: 'h1' })).toEqual({ hostId: 'h1' });
    expect(routeLogFields('/api/v1/vms/:id/migrate', { id: 'vm-7' })).toEqual({ vmId: 'vm-7' });
  });

  it('leaves out what is not one of those: a key, a rule, a route without ids, an unmatched request', () => {
    expect(routeLogFields('/api/v1/keys/:id', { id: 'k-1' })).toEqual({});
    expect(routeLogFields('/api/v1/rules/:id', { id: 'r-1' })).toEqual({});
    expect(routeLogFields('/api/v1/clusters', {})).toEqual({});
    expect(routeLogFields(undefined, undefined)).toEqual({});
  });
});
