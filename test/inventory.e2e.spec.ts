import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestApp, type TestApp } from './support/test-app.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
});

afterAll(async () => {
  await t?.close();
});

const host = (id: string, clusterId: string, extra: Record<string, unknown> = {}) => ({
  id,
  clusterId,
  cpuCapacityMhz: 76800,
  memoryCapacityMb: 524288,
  state: 'connected',
  networks: ['mgmt', 'prod'],
  datastores: ['ds-1'],
  ...extra,
});

const vm = (id: string, hostId: string, extra: Record<string, unknown> = {}) => ({
  id,
  hostId,
  vcpus: 4,
  memoryMb: 16384,
  cpuDemandMhz: 2100,
  memoryActiveMb: 9000,
  powerState: 'on',
  networks: ['prod'],
  datastores: ['ds-1'],
  ...extra,
});

describe('clusters', () => {
  it('creates a cluster with the default policy and reads it back', async () => {
    const created = await t.http.post('/api/v1/clusters').send({ id: 'alpha', name: 'Alpha' }).expect(201);
    expect(created.body).toMatchObject({
      id: 'alpha',
      name: 'Alpha',
      hostCount: 0,
      vmCount: 0,
      policy: { automationLevel: 'fully-automated', migrationThreshold: 3, maxMovesPerRun: 50 },
    });
    const read = await t.http.get('/api/v1/clusters/alpha').expect(200);
    expect(read.body).toEqual(created.body);
  });

  it('takes a partial policy and fills in the rest', async () => {
    const res = await t.http
      .post('/api/v1/clusters')
      .send({ id: 'beta', name: 'Beta', policy: { migrationThreshold: 5, maxCpuUtilization: 0.8 } })
      .expect(201);
    expect(res.body.policy).toMatchObject({ migrationThreshold: 5, maxCpuUtilization: 0.8, memoryOvercommitRatio: 1 });
  });

  it.each([
    [{ name: 'no id' }, 'body.id'],
    [{ id: 'bad id!', name: 'x' }, 'body.id'],
    [{ id: 'c', name: '' }, 'body.name'],
    [{ id: 'c', name: 'x', colour: 'red' }, 'body.colour'],
    [{ id: 'c', name: 'x', policy: { migrationThreshold: 0 } }, 'policy.migrationThreshold'],
    [{ id: 'c', name: 'x', policy: { automationLevel: 'sometimes' } }, 'policy.automationLevel'],
    [{ id: 'c', name: 'x', policy: { resourceWeights: { cpu: 0, memory: 0 } } }, 'policy.resourceWeights'],
    [{ id: 'c', name: 'x', policy: { maxCpuUtilization: 1.5 } }, 'policy.maxCpuUtilization'],
    [{ id: 'c', name: 'x', policy: 'aggressive' }, 'policy'],
  ])('refuses %j with 400 naming %s, and creates nothing', async (body, field) => {
    const res = await t.http.post('/api/v1/clusters').send(body).expect(400);
    expect(res.body.errors[0].field).toBe(field);
    expect(res.body.message).toContain(field);
    await t.http.get('/api/v1/clusters/c').expect(404);
  });

  it('refuses a duplicate id with 409', async () => {
    const res = await t.http.post('/api/v1/clusters').send({ id: 'alpha', name: 'Again' }).expect(409);
    expect(res.body.message).toContain('alpha');
    expect((await t.http.get('/api/v1/clusters/alpha')).body.name).toBe('Alpha');
  });

  it('lists with pagination', async () => {
    const page = await t.http.get('/api/v1/clusters?limit=1&offset=1').expect(200);
    expect(page.body).toMatchObject({ total: 2, limit: 1, offset: 1 });
    expect(page.body.items.map((c: { id: string }) => c.id)).toEqual(['beta']);
    await t.http.get('/api/v1/clusters?limit=0').expect(400);
    await t.http.get('/api/v1/clusters?limit=abc').expect(400);
    await t.http.get('/api/v1/clusters?offset=-1').expect(400);
  });

  it('updates the name and merges policy changes; null clears an optional field', async () => {
    const res = await t.http
      .patch('/api/v1/clusters/beta')
      .send({ name: 'Beta 2', policy: { migrationThreshold: 2, maxCpuUtilization: null, resourceWeights: { cpu: 2 } } })
      .expect(200);
    expect(res.body.name).toBe('Beta 2');
    expect(res.body.policy.migrationThreshold).toBe(2);
    expect(res.body.policy.maxCpuUtilization).toBeUndefined();
    expect(res.body.policy.resourceWeights).toEqual({ cpu: 2, memory: 1 });
  });

  it('refuses a bad update with 400 and leaves the cluster as it was', async () => {
    await t.http.patch('/api/v1/clusters/beta').send({ name: 'Beta 3', policy: { maxMovesPerRun: -1 } }).expect(400);
    expect((await t.http.get('/api/v1/clusters/beta')).body.name).toBe('Beta 2');
    await t.http.patch('/api/v1/clusters/nope').send({ name: 'x' }).expect(404);
  });

  it('answers 404 for an unknown cluster', async () => {
    const res = await t.http.get('/api/v1/clusters/nope').expect(404);
    expect(res.body.message).toContain('nope');
    await t.http.get('/api/v1/clusters/nope/snapshot').expect(404);
    await t.http.delete('/api/v1/clusters/nope').expect(404);
  });
});

describe('hosts', () => {
  it('creates, reads, filters and updates hosts', async () => {
    await t.http.post('/api/v1/hosts').send(host('a-esx-1', 'alpha')).expect(201);
    await t.http.post('/api/v1/hosts').send(host('a-esx-2', 'alpha', { state: 'standby', compatibilityGroup: 'cpu-1' })).expect(201);
    await t.http.post('/api/v1/hosts').send(host('b-esx-1', 'beta', { migrationBandwidthMbps: 1000 })).expect(201);

    const read = await t.http.get('/api/v1/hosts/b-esx-1').expect(200);
    expect(read.body).toEqual(host('b-esx-1', 'beta', { migrationBandwidthMbps: 1000 }));

    const alpha = await t.http.get('/api/v1/hosts?clusterId=alpha').expect(200);
    expect(alpha.body.total).toBe(2);
    const standby = await t.http.get('/api/v1/hosts?state=standby').expect(200);
    expect(standby.body.items.map((h: { id: string }) => h.id)).toEqual(['a-esx-2']);
    const group = await t.http.get('/api/v1/hosts?compatibilityGroup=cpu-1').expect(200);
    expect(group.body.total).toBe(1);
    await t.http.get('/api/v1/hosts?state=asleep').expect(400);

    const updated = await t.http.patch('/api/v1/hosts/a-esx-2').send({ state: 'connected', compatibilityGroup: null }).expect(200);
    expect(updated.body.state).toBe('connected');
    expect(updated.body.compatibilityGroup).toBeUndefined();
  });

  it.each([
    [host('h', 'alpha', { cpuCapacityMhz: 0 }), 'body.cpuCapacityMhz'],
    [host('h', 'alpha', { memoryCapacityMb: -5 }), 'body.memoryCapacityMb'],
    [host('h', 'alpha', { state: 'sleeping' }), 'body.state'],
    [host('h', 'alpha', { networks: 'prod' }), 'body.networks'],
    [host('h', 'alpha', { networks: ['prod', 'prod'] }), 'body.networks[1]'],
    [{ ...host('h', 'alpha'), clusterId: undefined }, 'body.clusterId'],
    [host('h', 'nope'), 'body.clusterId'],
  ])('refuses host %j with 400 naming %s', async (body, field) => {
    const res = await t.http.post('/api/v1/hosts').send(body).expect(400);
    expect(res.body.errors[0].field).toBe(field);
    await t.http.get('/api/v1/hosts/h').expect(404);
  });

  it('refuses a duplicate host id with 409, also across clusters', async () => {
    await t.http.post('/api/v1/hosts').send(host('a-esx-1', 'beta')).expect(409);
    expect((await t.http.get('/api/v1/hosts/a-esx-1')).body.clusterId).toBe('alpha');
  });

  it('refuses to change a host id or cluster, or to set a bad value', async () => {
    await t.http.patch('/api/v1/hosts/a-esx-1').send({ id: 'other' }).expect(400);
    await t.http.patch('/api/v1/hosts/a-esx-1').send({ clusterId: 'beta' }).expect(400);
    const res = await t.http.patch('/api/v1/hosts/a-esx-1').send({ memoryCapacityMb: 0 }).expect(400);
    expect(res.body.errors[0].field).toBe('body.memoryCapacityMb');
    await t.http.patch('/api/v1/hosts/nope').send({ state: 'connected' }).expect(404);
  });
});

describe('vms', () => {
  it('creates a VM in the cluster of its host, reads, filters and moves it', async () => {
    const created = await t.http.post('/api/v1/vms').send(vm('vm-1', 'a-esx-1', { automationLevel: 'manual' })).expect(201);
    expect(created.body).toEqual({ clusterId: 'alpha', ...vm('vm-1', 'a-esx-1', { automationLevel: 'manual' }) });
    await t.http.post('/api/v1/vms').send(vm('vm-2', 'a-esx-1', { powerState: 'off' })).expect(201);
    await t.http.post('/api/v1/vms').send(vm('vm-3', 'a-esx-2')).expect(201);
    await t.http.post('/api/v1/vms').send(vm('vm-b', 'b-esx-1')).expect(201);

    expect((await t.http.get('/api/v1/vms?clusterId=alpha').expect(200)).body.total).toBe(3);
    expect((await t.http.get('/api/v1/vms?hostId=a-esx-1').expect(200)).body.total).toBe(2);
    const off = await t.http.get('/api/v1/vms?powerState=off').expect(200);
    expect(off.body.items.map((v: { id: string }) => v.id)).toEqual(['vm-2']);
    expect((await t.http.get('/api/v1/clusters/alpha').expect(200)).body).toMatchObject({ hostCount: 2, vmCount: 3 });

    const moved = await t.http.patch('/api/v1/vms/vm-1').send({ hostId: 'a-esx-2', lastMigratedAt: '2026-11-25T11:50:00Z' }).expect(200);
    expect(moved.body.hostId).toBe('a-esx-2');
    expect(moved.body.lastMigratedAt).toBe('2026-11-25T11:50:00.000Z');
  });

  it.each([
    [vm('v', 'a-esx-1', { vcpus: 1.5 }), 'body.vcpus'],
    [vm('v', 'a-esx-1', { memoryMb: 0 }), 'body.memoryMb'],
    [vm('v', 'a-esx-1', { cpuDemandMhz: -1 }), 'body.cpuDemandMhz'],
    [vm('v', 'a-esx-1', { powerState: 'suspended' }), 'body.powerState'],
    [vm('v', 'a-esx-1', { automationLevel: 'auto' }), 'body.automationLevel'],
    [vm('v', 'a-esx-1', { lastMigratedAt: 'yesterday' }), 'body.lastMigratedAt'],
    [vm('v', 'nope'), 'body.hostId'],
    [{ ...vm('v', 'a-esx-1'), clusterId: 'alpha' }, 'body.clusterId'],
  ])('refuses VM %j with 400 naming %s', async (body, field) => {
    const res = await t.http.post('/api/v1/vms').send(body).expect(400);
    expect(res.body.errors[0].field).toBe(field);
    await t.http.get('/api/v1/vms/v').expect(404);
  });

  it('refuses a duplicate VM with 409 and a move to a host of another cluster with 409', async () => {
    await t.http.post('/api/v1/vms').send(vm('vm-1', 'b-esx-1')).expect(409);
    const res = await t.http.patch('/api/v1/vms/vm-1').send({ hostId: 'b-esx-1' }).expect(409);
    expect(res.body.message).toContain('beta');
    expect((await t.http.get('/api/v1/vms/vm-1')).body.hostId).toBe('a-esx-2');
    await t.http.patch('/api/v1/vms/vm-1').send({ hostId: 'nope' }).expect(400);
    await t.http.patch('/api/v1/vms/nope').send({ vcpus: 2 }).expect(404);
  });

  it('refuses to delete a host that still has VMs', async () => {
    const res = await t.http.delete('/api/v1/hosts/a-esx-1').expect(409);
    expect(res.body.message).toContain('VMs');
    await t.http.get('/api/v1/hosts/a-esx-1').expect(200);
  });
});

describe('rules', () => {
  it('creates rules of every kind, lists and filters them, updates one', async () => {
    await t.http.post('/api/v1/rules').send({ id: 'apart', clusterId: 'alpha', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['vm-1', 'vm-3'] }).expect(201);
    await t.http.post('/api/v1/rules').send({ id: 'together', clusterId: 'alpha', kind: 'vm-affinity', mode: 'should', vmIds: ['vm-1', 'vm-2'] }).expect(201);
    const pinned = await t.http
      .post('/api/v1/rules')
      .send({ id: 'pin', clusterId: 'alpha', kind: 'vm-host-affinity', mode: 'must', vmIds: ['vm-2'], hostIds: ['a-esx-1'] })
      .expect(201);
    expect(pinned.body).toEqual({ id: 'pin', clusterId: 'alpha', kind: 'vm-host-affinity', mode: 'must', vmIds: ['vm-2'], hostIds: ['a-esx-1'] });
    await t.http
      .post('/api/v1/rules')
      .send({ id: 'avoid', clusterId: 'alpha', kind: 'vm-host-anti-affinity', mode: 'should', vmIds: ['vm-3'], hostIds: ['a-esx-1'], enabled: false })
      .expect(201);

    expect((await t.http.get('/api/v1/rules?clusterId=alpha').expect(200)).body.total).toBe(4);
    expect((await t.http.get('/api/v1/rules?mode=must').expect(200)).body.total).toBe(2);
    expect((await t.http.get('/api/v1/rules?kind=vm-affinity').expect(200)).body.total).toBe(1);
    const naming = await t.http.get('/api/v1/rules?vmId=vm-2').expect(200);
    expect(naming.body.items.map((r: { id: string }) => r.id)).toEqual(['pin', 'together']);

    const updated = await t.http.patch('/api/v1/rules/avoid').send({ enabled: true, mode: 'must' }).expect(200);
    expect(updated.body).toMatchObject({ enabled: true, mode: 'must' });
  });

  it.each([
    [{ id: 'r', clusterId: 'alpha', kind: 'vm-affinity', mode: 'must', vmIds: ['vm-1'] }, 'body.vmIds', 400],
    [{ id: 'r', clusterId: 'alpha', kind: 'vm-anti-affinity', mode: 'maybe', vmIds: ['vm-1', 'vm-2'] }, 'body.mode', 400],
    [{ id: 'r', clusterId: 'alpha', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['vm-1', 'ghost'] }, 'body.vmIds[1]', 400],
    [{ id: 'r', clusterId: 'alpha', kind: 'vm-host-affinity', mode: 'must', vmIds: ['vm-1'] }, 'body.hostIds', 400],
    [{ id: 'r', clusterId: 'alpha', kind: 'vm-host-affinity', mode: 'must', vmIds: ['vm-1'], hostIds: ['ghost'] }, 'body.hostIds[0]', 400],
    [{ id: 'r', clusterId: 'alpha', kind: 'vm-affinity', mode: 'must', vmIds: ['vm-1', 'vm-2'], hostIds: ['a-esx-1'] }, 'body.hostIds', 400],
    [{ id: 'r', clusterId: 'nope', kind: 'vm-affinity', mode: 'must', vmIds: ['vm-1', 'vm-2'] }, 'body.clusterId', 400],
  ])('refuses rule %j with %s', async (body, field, status) => {
    const res = await t.http.post('/api/v1/rules').send(body).expect(status);
    expect(res.body.errors[0].field).toBe(field);
    await t.http.get('/api/v1/rules/r').expect(404);
  });

  it('refuses a rule naming a VM or host of another cluster with 409', async () => {
    const vmRes = await t.http.post('/api/v1/rules').send({ id: 'r', clusterId: 'alpha', kind: 'vm-affinity', mode: 'must', vmIds: ['vm-1', 'vm-b'] }).expect(409);
    expect(vmRes.body.message).toContain('vm-b');
    await t.http
      .post('/api/v1/rules')
      .send({ id: 'r', clusterId: 'alpha', kind: 'vm-host-affinity', mode: 'must', vmIds: ['vm-1'], hostIds: ['b-esx-1'] })
      .expect(409);
    await t.http.patch('/api/v1/rules/apart').send({ vmIds: ['vm-1', 'vm-b'] }).expect(409);
    expect((await t.http.get('/api/v1/rules/apart')).body.vmIds).toEqual(['vm-1', 'vm-3']);
    await t.http.post('/api/v1/rules').send({ id: 'apart', clusterId: 'alpha', kind: 'vm-affinity', mode: 'must', vmIds: ['vm-1', 'vm-2'] }).expect(409);
  });

  it('refuses to delete a VM or host that a rule names; deletes once the rule is gone', async () => {
    const res = await t.http.delete('/api/v1/vms/vm-3').expect(409);
    expect(res.body.message).toContain('apart');
    await t.http.delete('/api/v1/vms/vm-2').expect(409);
    await t.http.delete('/api/v1/rules/apart').expect(204);
    await t.http.delete('/api/v1/rules/avoid').expect(204);
    await t.http.delete('/api/v1/rules/avoid').expect(404);
    await t.http.delete('/api/v1/vms/vm-3').expect(204);
    await t.http.get('/api/v1/vms/vm-3').expect(404);
    await t.http.delete('/api/v1/vms/vm-3').expect(404);

    await t.http.patch('/api/v1/vms/vm-1').send({ hostId: 'a-esx-1' }).expect(200);
    const hostRes = await t.http.delete('/api/v1/hosts/a-esx-2').expect(204);
    expect(hostRes.body).toEqual({});
    await t.http.delete('/api/v1/hosts/a-esx-2').expect(404);
  });

  it('refuses to delete a host named by a rule', async () => {
    await t.http.post('/api/v1/hosts').send(host('a-esx-3', 'alpha')).expect(201);
    await t.http.patch('/api/v1/rules/pin').send({ hostIds: ['a-esx-1', 'a-esx-3'] }).expect(200);
    const res = await t.http.delete('/api/v1/hosts/a-esx-3').expect(409);
    expect(res.body.message).toContain('pin');
  });
});

describe('deleting a cluster', () => {
  it('refuses a cluster with hosts unless forced, then removes its whole inventory', async () => {
    await t.http.delete('/api/v1/clusters/beta').expect(409);
    await t.http.delete('/api/v1/clusters/beta?force=maybe').expect(400);
    await t.http.delete('/api/v1/clusters/beta?force=true').expect(204);
    await t.http.get('/api/v1/clusters/beta').expect(404);
    await t.http.get('/api/v1/hosts/b-esx-1').expect(404);
    await t.http.get('/api/v1/vms/vm-b').expect(404);
  });
});
