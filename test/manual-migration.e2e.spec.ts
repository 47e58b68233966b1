import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { host, snapshot, vm } from './support/builders.js';
import { migrationEnded } from './support/migration-ended.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/** `POST /api/v1/vms/:id/migrate`: vMotion of one VM to a host the operator chose. */
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ SIM_TIME_SCALE: '0.02' });
  const big = 262_144;
  await t.http
    .post('/api/v1/clusters/import')
    .send(
      snapshot({
        clusterId: 'mm',
        policy: { automationLevel: 'manual' },
        hosts: [
          host('mm-h1'),
          host('mm-h2'),
          host('mm-h3', { state: 'maintenance' }),
          host('mm-h4', { state: 'quarantine' }),
          host('mm-h5', { compatibilityGroup: 'cpu-2' }),
          host('mm-h6', { memoryCapacityMb: 8192 }),
        ],
        vms: [vm('mm-a', 'mm-h1'), vm('mm-b', 'mm-h1'), vm('mm-c', 'mm-h1'), vm('mm-e', 'mm-h1'), vm('mm-big', 'mm-h1', { memoryMb: big, memoryActiveMb: big / 2 }), vm('mm-d', 'mm-h2')],
        rules: [
          { id: 'mm-apart', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['mm-a', 'mm-d'] },
          { id: 'mm-together', kind: 'vm-affinity', mode: 'must', vmIds: ['mm-b', 'mm-c'] },
        ],
      }),
    )
    .expect(201);
  await t.http
    .post('/api/v1/clusters/import')
    .send(snapshot({ clusterId: 'mm2', hosts: [host('mm2-h1')], vms: [] }))
    .expect(201);
});

afterAll(async () => {
  await t?.close();
});

const migrate = (vmId: string, body: unknown) => t.http.post(`/api/v1/vms/${vmId}/migrate`).send(body as object);

const untilEnded = (id: string) => migrationEnded(t.http, id, 30000);

describe('manual migration', () => {
  it('moves the VM to the chosen host at priority 1, recorded as an approved plan of one move', async () => {
    const accepted = (await migrate('mm-e', { hostId: 'mm-h2' }).expect(202)).body;
    expect(accepted).toMatchObject({ clusterId: 'mm', move: { vmId: 'mm-e', fromHostId: 'mm-h1', toHostId: 'mm-h2', priority: 1, reason: 'manual' } });
    const done = await untilEnded(accepted.migrationId);
    expect(done).toMatchObject({ state: 'succeeded', vmId: 'mm-e', sourceHostId: 'mm-h1', targetHostId: 'mm-h2', priority: 1, reason: 'manual', planId: accepted.planId });
    expect((await t.http.get('/api/v1/vms/mm-e').expect(200)).body.hostId).toBe('mm-h2');
    const plan = (await t.http.get(`/api/v1/plans/${accepted.planId}`).expect(200)).body;
    expect(plan).toMatchObject({ status: 'approved', source: 'operator', approvedMoves: [0], plan: { moves: [accepted.move] } });
  });

  it.each([
    { name: 'a must anti-affinity rule', vm: 'mm-a', host: 'mm-h2', plugin: 'must-rules', reason: 'mm-h2 would break must rule mm-apart (mm-d is there)' },
    { name: 'a must affinity rule', vm: 'mm-b', host: 'mm-h2', plugin: 'must-affinity', reason: 'breaks must rule mm-together: its VMs are spread over mm-h2, mm-h1' },
    { name: 'a host in maintenance', vm: 'mm-c', host: 'mm-h3', plugin: 'host-state', reason: 'mm-h3 is maintenance' },
    { name: 'a host in quarantine', vm: 'mm-c', host: 'mm-h4', plugin: 'host-state', reason: 'mm-h4 is quarantine' },
    { name: 'another compatibility group', vm: 'mm-a', host: 'mm-h5', plugin: 'compatibility-group', reason: expect.stringContaining('mm-h5 is in compatibility group cpu-2') },
    { name: 'too little memory', vm: 'mm-a', host: 'mm-h6', plugin: 'memory-capacity', reason: 'mm-h6 has 8192 MB free, the VM needs 16384 MB' },
    { name: 'the host it is on', vm: 'mm-a', host: 'mm-h1', plugin: 'host-state', reason: undefined },
    { name: 'a host of another cluster', vm: 'mm-a', host: 'mm2-h1', plugin: 'cluster', reason: undefined },
  ])('refuses $name with 409 and the reason, and moves nothing', async ({ vm: vmId, host: hostId, plugin, reason }) => {
    const before = (await t.http.get(`/api/v1/migrations?vmId=${vmId}`).expect(200)).body.total;
    const refused = (await migrate(vmId, { hostId }).expect(409)).body;
    expect(refused.plugin).toBe(plugin);
    if (reason !== undefined) {
      expect(refused.reason).toEqual(reason);
      expect(refused.message).toContain(`VM ${vmId} cannot migrate to ${hostId}`);
    } else expect(refused.message).toContain(hostId);
    expect((await t.http.get(`/api/v1/migrations?vmId=${vmId}`).expect(200)).body.total).toBe(before);
    expect((await t.http.get(`/api/v1/vms/${vmId}`).expect(200)).body.hostId).toBe(vmId === 'mm-e' ? 'mm-h2' : 'mm-h1');
  });

  it('refuses a VM that is already migrating', async () => {
    const first = (await migrate('mm-big', { hostId: 'mm-h2' }).expect(202)).body;
    const again = (await migrate('mm-big', { hostId: 'mm-h5' }).expect(409)).body;
    expect(again).toMatchObject({ plugin: 'in-flight', migrationId: first.migrationId, message: `VM mm-big is already migrating (migration ${first.migrationId})` });
    await t.http.post(`/api/v1/migrations/${first.migrationId}/cancel`).expect(202);
    expect(['cancelled', 'succeeded']).toContain((await untilEnded(first.migrationId)).state);
  });

  it('counts migrations in flight on their target: a VM does not take the room another is moving into', async () => {
    // mm-h6 is made to take exactly one VM; mm-c goes there first, then mm-a finds it full.
    await t.http.patch('/api/v1/hosts/mm-h6').send({ memoryCapacityMb: 16384 }).expect(200);
    const first = (await migrate('mm-c', { hostId: 'mm-h6' }).expect(409)).body;
    // mm-c is bound to mm-b (must affinity): the rule speaks first.
    expect(first.plugin).toBe('must-affinity');
    await t.http.delete('/api/v1/rules/mm-together').expect(204);
    const moving = (await migrate('mm-c', { hostId: 'mm-h6' }).expect(202)).body;
    const full = (await migrate('mm-a', { hostId: 'mm-h6' }).expect(409)).body;
    expect(full).toMatchObject({ plugin: 'memory-capacity', reason: 'mm-h6 has 0 MB free, the VM needs 16384 MB' });
    expect((await untilEnded(moving.migrationId)).state).toBe('succeeded');
  });

  it('refuses a VM whose host failed: it cannot be live-migrated', async () => {
    await t.http
      .post('/api/v1/clusters/import')
      .send(snapshot({ clusterId: 'mmf', policy: { automationLevel: 'manual' }, hosts: [host('mmf-h1', { state: 'failed' }), host('mmf-h2')], vms: [vm('mmf-a', 'mmf-h1')] }))
      .expect(201);
    const refused = (await migrate('mmf-a', { hostId: 'mmf-h2' }).expect(409)).body;
    expect(refused).toMatchObject({ plugin: 'host-state', message: expect.stringContaining('mmf-h1, which is failed (unreachable)') });
    expect((await t.http.get('/api/v1/migrations?vmId=mmf-a').expect(200)).body.total).toBe(0);
  });

  it('404 for an unknown VM or host, 400 for a bad body', async () => {
    expect((await migrate('nope', { hostId: 'mm-h2' }).expect(404)).body.message).toBe('VM "nope" does not exist');
    expect((await migrate('mm-a', { hostId: 'nope' }).expect(404)).body.message).toBe('host "nope" does not exist');
    expect((await migrate('mm-a', {}).expect(400)).body.errors[0].field).toBe('body.hostId');
    expect((await migrate('mm-a', { hostId: 7 }).expect(400)).body.errors[0].field).toBe('body.hostId');
    await migrate('mm-a', { hostId: 'mm-h2', now: true }).expect(400);
    await t.http.post('/api/v1/vms/mm-a/migrate').set('content-type', 'application/json').send('[').expect(400);
  });
});
