import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { host, snapshot, vm } from './support/builders.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/** Proactive HA: health reports quarantine or evacuate a host by the policy's healthActions. */
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ BALLAST_ROLES: 'api,scheduler' });
  const cluster = snapshot({
    clusterId: 'hh',
    hosts: [host('hh-1'), host('hh-2'), host('hh-3')],
    vms: [vm('hh-a', 'hh-1'), vm('hh-b', 'hh-1'), vm('hh-c', 'hh-2')],
    policy: { healthActions: { moderate: 'quarantine', severe: 'maintenance' } },
  });
  await t.http.post('/api/v1/clusters/import').send(cluster).expect(201);
});
afterAll(async () => t?.close());

const hostState = async (id: string) => (await t.http.get(`/api/v1/hosts/${id}`).expect(200)).body.state;

describe('POST /api/v1/hosts/:id/health', () => {
  it('moderate quarantines the host (no new VMs, its own stay), and healthy lifts that quarantine', async () => {
    const r = await t.http.post('/api/v1/hosts/hh-2/health').send({ severity: 'moderate', detail: 'SMART: 12 reallocated sectors' }).expect(200);
    expect(r.body).toMatchObject({ hostId: 'hh-2', severity: 'moderate', action: 'quarantine', hostState: 'quarantine', operationId: null });
    expect(await hostState('hh-2')).toBe('quarantine');
    const vms = (await t.http.get('/api/v1/vms?hostId=hh-2').expect(200)).body.items;
    expect(vms.map((v: { id: string }) => v.id)).toEqual(['hh-c']);
    const status = (await t.http.get('/api/v1/clusters/hh/status').expect(200)).body.closedLoop;
    expect(status.quarantinedHosts).toEqual(['hh-2']);
    const healthy = await t.http.post('/api/v1/hosts/hh-2/health').send({ severity: 'healthy' }).expect(200);
    expect(healthy.body).toMatchObject({ action: 'lift-quarantine', hostState: 'connected' });
    expect(await hostState('hh-2')).toBe('connected');
  });

  it('healthy does not lift a quarantine an operator set', async () => {
    await t.http.patch('/api/v1/hosts/hh-3').send({ state: 'quarantine' }).expect(200);
    const r = await t.http.post('/api/v1/hosts/hh-3/health').send({ severity: 'healthy' }).expect(200);
    expect(r.body).toMatchObject({ action: null, hostState: 'quarantine' });
    expect(await hostState('hh-3')).toBe('quarantine');
    await t.http.patch('/api/v1/hosts/hh-3').send({ state: 'connected' }).expect(200);
  });

  it('severe puts the host into maintenance: its VMs leave as priority-1 migrations', async () => {
    const r = await t.http.post('/api/v1/hosts/hh-1/health').send({ severity: 'severe', detail: 'IPMI: PSU 2 failed' }).expect(200);
    expect(r.body).toMatchObject({ action: 'maintenance', hostState: 'entering-maintenance', operationId: expect.any(String) });
    const moves = (await t.http.get('/api/v1/migrations?clusterId=hh').expect(200)).body.items;
    expect(moves.map((m: { vmId: string }) => m.vmId).sort()).toEqual(['hh-a', 'hh-b']);
    expect(moves.every((m: { priority: number; reason: string; sourceHostId: string }) => m.priority === 1 && m.reason === 'evacuation' && m.sourceHostId === 'hh-1')).toBe(true);
  });

  it('refuses bad reports and unknown hosts, changing nothing', async () => {
    const bad = await t.http.post('/api/v1/hosts/hh-2/health').send({ severity: 'catastrophic' }).expect(400);
    expect(bad.body.errors[0]).toMatchObject({ field: 'body.severity' });
    const extra = await t.http.post('/api/v1/hosts/hh-2/health').send({ severity: 'moderate', colour: 'red' }).expect(400);
    expect(extra.body.errors[0]).toMatchObject({ field: 'body.colour' });
    await t.http.post('/api/v1/hosts/nope/health').send({ severity: 'moderate' }).expect(404);
    expect(await hostState('hh-2')).toBe('connected');
  });
});
