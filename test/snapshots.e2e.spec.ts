import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Snapshot } from '../src/planner/snapshot.js';
import { loadSample } from './support/samples.js';
import { createTestApp, type TestApp } from './support/test-app.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
});

afterAll(async () => {
  await t?.close();
});

/** Items keyed by id, so that two documents compare regardless of order. */
function byId<T extends { id: string }>(items: T[]): Record<string, T> {
  return Object.fromEntries(items.map((item) => [item.id, item]));
}

describe('snapshot import and export', () => {
  it('round-trips sample-rules.json: same cluster, policy, hosts, VMs, rules and values', async () => {
    const sample = loadSample('sample-rules.json');
    const imported = await t.http.post('/api/v1/clusters/import').send(sample).expect(201);
    expect(imported.body).toEqual({ clusterId: 'sample-rules', replaced: false, hosts: 16, vms: 272, rules: 17 });

    const exported: Snapshot = (await t.http.get('/api/v1/clusters/sample-rules/snapshot').expect(200)).body;
    expect(exported.version).toBe(1);
    expect(exported.cluster).toEqual(sample.cluster);
    expect(exported.policy).toEqual(sample.policy);
    expect(Date.parse(exported.takenAt!)).not.toBeNaN();
    expect(byId(exported.hosts)).toEqual(byId(sample.hosts));
    expect(byId(exported.vms)).toEqual(byId(sample.vms));
    expect(byId(exported.rules)).toEqual(byId(sample.rules));
    expect(Object.keys(exported).sort()).toEqual(['cluster', 'hosts', 'policy', 'rules', 'takenAt', 'version', 'vms']);
  });

  it('exports what the CRUD API changed', async () => {
    await t.http.patch('/api/v1/vms/vm-00001').send({ cpuDemandMhz: 1234.5, memoryDirtyRateMbps: 400 }).expect(200);
    const exported: Snapshot = (await t.http.get('/api/v1/clusters/sample-rules/snapshot').expect(200)).body;
    expect(exported.vms.find((v) => v.id === 'vm-00001')).toMatchObject({ cpuDemandMhz: 1234.5, memoryDirtyRateMbps: 400 });
  });

  it('refuses to import over an existing cluster without replace (409), and changes nothing', async () => {
    const sample = loadSample('sample-rules.json');
    sample.cluster.name = 'changed';
    await t.http.post('/api/v1/clusters/import').send(sample).expect(409);
    expect((await t.http.get('/api/v1/clusters/sample-rules')).body.name).toBe('sample-rules');
  });

  it('replaces a cluster with ?replace=true in one go', async () => {
    const sample = loadSample('sample-rules.json');
    sample.cluster.name = 'Rules, again';
    sample.vms = sample.vms.slice(0, 10);
    sample.rules = [];
    const res = await t.http.post('/api/v1/clusters/import?replace=true').send(sample).expect(201);
    expect(res.body).toMatchObject({ replaced: true, vms: 10, rules: 0 });
    expect((await t.http.get('/api/v1/clusters/sample-rules')).body).toMatchObject({ name: 'Rules, again', hostCount: 16, vmCount: 10 });
    await t.http.get('/api/v1/vms/vm-00200').expect(404);
  });

  it('refuses ids that another cluster uses (409), and writes nothing of the snapshot', async () => {
    const other = loadSample('sample-small.json');
    other.cluster = { id: 'other', name: 'Other' };
    const res = await t.http.post('/api/v1/clusters/import').send(other).expect(409);
    expect(res.body.message).toContain('esx-001');
    await t.http.get('/api/v1/clusters/other').expect(404);
  });

  it.each([
    [(s: Snapshot) => ({ ...s, version: 2 }), 'snapshot.version'],
    [(s: Snapshot) => ({ ...s, hosts: [...s.hosts, s.hosts[0]] }), 'snapshot.hosts[8] (esx-001).id'],
    [(s: Snapshot) => ({ ...s, vms: [{ ...s.vms[3], hostId: 'esx-999' }, ...s.vms.slice(4)] }), 'snapshot.vms[0] (vm-00004).hostId'],
    [(s: Snapshot) => ({ ...s, hosts: [{ ...s.hosts[0], cpuCapacityMhz: 0 }, ...s.hosts.slice(1)] }), 'snapshot.hosts[0] (esx-001).cpuCapacityMhz'],
    [(s: Snapshot) => ({ ...s, hosts: [{ ...s.hosts[0], state: 'on-fire' }, ...s.hosts.slice(1)] }), 'snapshot.hosts[0] (esx-001).state'],
    [(s: Snapshot) => ({ ...s, rules: [{ id: 'r', kind: 'vm-affinity', mode: 'must', vmIds: ['vm-00001', 'vm-ghost'] }] }), 'snapshot.rules[0] (r).vmIds[1]'],
    [(s: Snapshot) => ({ ...s, policy: { ...s.policy, memoryOvercommitRatio: 0 } }), 'snapshot.policy.memoryOvercommitRatio'],
  ])('refuses an invalid snapshot with 400 naming the item (%#)', async (mutate, field) => {
    const sample = loadSample('sample-small.json');
    sample.cluster = { id: 'invalid', name: 'Invalid' };
    const res = await t.http.post('/api/v1/clusters/import').send(mutate(sample)).expect(400);
    expect(res.body.errors[0].field).toBe(field);
    await t.http.get('/api/v1/clusters/invalid').expect(404);
  });

  it('refuses a body that is not a snapshot', async () => {
    const res = await t.http.post('/api/v1/clusters/import').set('content-type', 'application/json').send('[1,2]').expect(400);
    expect(res.body.errors[0].field).toBe('snapshot');
    await t.http.post('/api/v1/clusters/import?replace=perhaps').send(loadSample('sample-small.json')).expect(400);
  });
});
