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

describe('rules in conflict', () => {
  const gamma = {
    version: 1,
    cluster: { id: 'gamma', name: 'Gamma' },
    policy: {},
    hosts: ['g-esx-1', 'g-esx-2'].map((id) => ({ ...host(id, 'gamma'), clusterId: undefined })),
    vms: [vm('g-a', 'g-esx-1'), vm('g-b', 'g-esx-2'), vm('g-c', 'g-esx-2')],
    rules: [{ id: 'g-apart', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['g-a', 'g-b'] }],
  };
  const together = { id: 'g-together', kind: 'vm-affinity', mode: 'must', vmIds: ['g-b', 'g-a'] };

  beforeAll(async () => {
    await t.http.post('/api/v1/clusters/import').send(gamma).expect(201);
  });

  it('refuses a must affinity rule for VMs a must anti-affinity rule keeps apart (409 naming it), and stores nothing', async () => {
    const res = await t.http.post('/api/v1/rules').send(together).expect(409);
    expect(res.body).toMatchObject({ ruleId: 'g-together', conflictsWith: ['g-apart'] });
    expect(res.body.message).toMatch(/rule "g-together" conflicts with must rule "g-apart": g-a and g-b must share a host/);
    await t.http.get('/api/v1/rules/g-together').expect(404);
    // A should rule contradicts nothing: it is a preference.
    await t.http.post('/api/v1/rules').send({ ...together, id: 'g-soft', mode: 'should' }).expect(201);
  });

  it('stores it disabled with ?disabledOnConflict=true and says why', async () => {
    const res = await t.http.post('/api/v1/rules?disabledOnConflict=true').send(together).expect(201);
    expect(res.body).toMatchObject({ id: 'g-together', enabled: false, clusterId: 'gamma', conflict: { conflictsWith: ['g-apart'] } });
    expect((await t.http.get('/api/v1/rules/g-together').expect(200)).body.enabled).toBe(false);
    await t.http.post('/api/v1/rules?disabledOnConflict=maybe').send({ ...together, id: 'g-x' }).expect(400);
  });

  it('refuses enabling it, or turning a should rule into a must one, while the other rule holds', async () => {
    const res = await t.http.patch('/api/v1/rules/g-together').send({ enabled: true }).expect(409);
    expect(res.body.conflictsWith).toEqual(['g-apart']);
    expect((await t.http.get('/api/v1/rules/g-together')).body.enabled).toBe(false);
    await t.http.patch('/api/v1/rules/g-soft').send({ mode: 'must' }).expect(409);
    const disabled = await t.http.patch('/api/v1/rules/g-soft?disabledOnConflict=true').send({ mode: 'must' }).expect(200);
    expect(disabled.body).toMatchObject({ mode: 'must', enabled: false, conflict: { conflictsWith: ['g-apart'] } });
    await t.http.delete('/api/v1/rules/g-soft').expect(204);
    // Once the anti-affinity rule is disabled, the affinity rule may be enabled.
    await t.http.patch('/api/v1/rules/g-apart').send({ enabled: false }).expect(200);
    await t.http.patch('/api/v1/rules/g-together').send({ enabled: true }).expect(200);
    const back = await t.http.patch('/api/v1/rules/g-apart').send({ enabled: true }).expect(409);
    expect(back.body.conflictsWith).toEqual(['g-together']);
  });

  it('refuses vm-host rules that leave VMs that must share a host no host', async () => {
    await t.http.post('/api/v1/rules').send({ id: 'g-a-on-1', kind: 'vm-host-affinity', mode: 'must', vmIds: ['g-a'], hostIds: ['g-esx-1'] }).expect(201);
    const res = await t.http.post('/api/v1/rules').send({ id: 'g-b-on-2', kind: 'vm-host-affinity', mode: 'must', vmIds: ['g-b'], hostIds: ['g-esx-2'] }).expect(409);
    expect(res.body.conflictsWith.sort()).toEqual(['g-a-on-1', 'g-together']);
    expect(res.body.message).toContain('no host is left for g-a, g-b');
  });

  it('a rule without clusterId joins the cluster of its VMs; unknown VMs or VMs of two clusters are 400', async () => {
    const res = await t.http.post('/api/v1/rules').send({ id: 'g-c-off-1', kind: 'vm-host-anti-affinity', mode: 'should', vmIds: ['g-c'], hostIds: ['g-esx-1'] }).expect(201);
    expect(res.body.clusterId).toBe('gamma');
    const unknown = await t.http.post('/api/v1/rules').send({ id: 'g-r', kind: 'vm-affinity', mode: 'should', vmIds: ['g-c', 'ghost'] }).expect(400);
    expect(unknown.body.errors[0]).toMatchObject({ field: 'body.vmIds[1]', reason: 'unknown VM "ghost"' });
    const mixed = await t.http.post('/api/v1/rules').send({ id: 'g-r', kind: 'vm-affinity', mode: 'should', vmIds: ['g-c', 'vm-1'] }).expect(400);
    expect(mixed.body.errors[0].field).toBe('body.vmIds');
    expect(mixed.body.errors[0].reason).toContain('different clusters (g-c in gamma, vm-1 in alpha)');
    await t.http.get('/api/v1/rules/g-r').expect(404);
  });

  it('import refuses a snapshot whose must rules contradict each other (409), or stores the later ones disabled', async () => {
    const delta = {
      ...gamma,
      cluster: { id: 'delta', name: 'Delta' },
      hosts: gamma.hosts.map((h) => ({ ...h, id: h.id.replace('g-', 'd-') })),
      vms: gamma.vms.map((v) => ({ ...v, id: v.id.replace('g-', 'd-'), hostId: v.hostId.replace('g-', 'd-') })),
      rules: [
        { id: 'd-apart', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['d-a', 'd-b'] },
        { id: 'd-together', kind: 'vm-affinity', mode: 'must', vmIds: ['d-a', 'd-b'] },
      ],
    };
    const refused = await t.http.post('/api/v1/clusters/import').send(delta).expect(409);
    expect(refused.body.message).toMatch(/rule "d-together" conflicts with must rule "d-apart" before it in the snapshot/);
    expect(refused.body.conflicts).toEqual([{ ruleId: 'd-together', conflictsWith: ['d-apart'], reason: expect.any(String) }]);
    await t.http.get('/api/v1/clusters/delta').expect(404);

    const stored = await t.http.post('/api/v1/clusters/import?disabledOnConflict=true').send(delta).expect(201);
    expect(stored.body.disabledRules).toEqual([expect.objectContaining({ ruleId: 'd-together', conflictsWith: ['d-apart'] })]);
    expect((await t.http.get('/api/v1/rules/d-together')).body.enabled).toBe(false);
    expect((await t.http.get('/api/v1/rules/d-apart')).body.enabled).toBeUndefined();
  });
});

describe('host capacity', () => {
  // g-esx-2 (of gamma above) holds g-b and g-c: 2 x 16384 MB of memory, 2 x 2100 MHz of demand.
  it('cannot shrink below what the host holds without ?force=true (409 naming the figure)', async () => {
    const memory = await t.http.patch('/api/v1/hosts/g-esx-2').send({ memoryCapacityMb: 30000 }).expect(409);
    expect(memory.body.message).toContain('memoryCapacityMb 30000 is below what host "g-esx-2" holds: its powered-on VMs have 32768 MB of memory');
    expect(memory.body.needs).toEqual({ memoryCapacityMb: 32768 });
    const cpu = await t.http.patch('/api/v1/hosts/g-esx-2').send({ cpuCapacityMhz: 4000 }).expect(409);
    expect(cpu.body.message).toContain('its powered-on VMs demand 4200 MHz, so cpuCapacityMhz must stay at least 4200');
    expect((await t.http.get('/api/v1/hosts/g-esx-2')).body).toMatchObject({ memoryCapacityMb: 524288, cpuCapacityMhz: 76800 });

    await t.http.patch('/api/v1/hosts/g-esx-2').send({ memoryCapacityMb: 32768, cpuCapacityMhz: 4200 }).expect(200);
    await t.http.patch('/api/v1/hosts/g-esx-2?force=maybe').send({ memoryCapacityMb: 1024 }).expect(400);
    await t.http.patch('/api/v1/hosts/g-esx-2?force=true').send({ memoryCapacityMb: 1024 }).expect(200);
    // Growing, or another field, is never refused, even on a host already over its capacity.
    await t.http.patch('/api/v1/hosts/g-esx-2').send({ memoryCapacityMb: 2048 }).expect(200);
    await t.http.patch('/api/v1/hosts/g-esx-2').send({ migrationBandwidthMbps: 25000 }).expect(200);
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
