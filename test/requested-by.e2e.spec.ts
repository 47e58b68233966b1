import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { evacuationCluster, testCluster } from './support/clusters.js';
import { createTestApp, type TestApp } from './support/test-app.js';

const ADMIN_KEY = 'test-admin-key-requested-by-0123456789abcdef';

let t: TestApp;
const keys: Record<'planner' | 'approver' | 'maintainer', { id: string; key: string }> = {} as never;

const as = (key: string) => ({ authorization: `Bearer ${key}` });

beforeAll(async () => {
  // Migrations complete at once: only who asked for them matters here.
  t = await createTestApp({ BALLAST_ADMIN_KEY: ADMIN_KEY, SIM_TIME_SCALE: '0' });
  for (const name of ['planner', 'approver', 'maintainer'] as const) {
    const created = await t.http.post('/api/v1/keys').set(as(ADMIN_KEY)).send({ name, role: 'operator' }).expect(201);
    keys[name] = { id: created.body.id, key: created.body.key };
  }
});

afterAll(async () => {
  await t?.close();
});

describe('plans, approvals, maintenance and migrations record the key that asked for them', () => {
  it('a plan names the key that made it and the one that approved it; its migrations the approver', async () => {
    await t.http.post('/api/v1/clusters/import').set(as(ADMIN_KEY)).send(evacuationCluster({ id: 'rb', vms: 2, hosts: 2 })).expect(201);
    const plan = (await t.http.post('/api/v1/clusters/rb/plans').set(as(keys.planner.key)).send({}).expect(201)).body;
    expect(plan).toMatchObject({ requestedByKeyId: keys.planner.id, approvedByKeyId: null });
    expect(plan.plan.moves.length).toBeGreaterThan(0);

    const approval = (await t.http.post(`/api/v1/plans/${plan.id}/approve`).set(as(keys.approver.key)).send({}).expect(202)).body;
    expect(approval.plan).toMatchObject({ requestedByKeyId: keys.planner.id, approvedByKeyId: keys.approver.id });
    const stored = (await t.http.get(`/api/v1/plans/${plan.id}`).set(as(keys.planner.key)).expect(200)).body;
    expect(stored).toMatchObject({ requestedByKeyId: keys.planner.id, approvedByKeyId: keys.approver.id });
    for (const id of approval.migrationIds) {
      const migration = (await t.http.get(`/api/v1/migrations/${id}`).set(as(keys.planner.key)).expect(200)).body;
      expect(migration.requestedByKeyId).toBe(keys.approver.id);
    }
    const listed = (await t.http.get(`/api/v1/migrations?planId=${plan.id}`).set(as(keys.planner.key)).expect(200)).body;
    expect(listed.items.map((m: { requestedByKeyId: string }) => m.requestedByKeyId)).toEqual(approval.migrationIds.map(() => keys.approver.id));
  });

  it('a maintenance operation, its evacuation plan and migrations name the key that started it; the bootstrap key is "bootstrap"', async () => {
    await t.http.post('/api/v1/clusters/import').set(as(ADMIN_KEY)).send(testCluster('rm', { vmsPerHost: [2, 0] })).expect(201);
    const op = (await t.http.post('/api/v1/hosts/rm-h1/maintenance').set(as(keys.maintainer.key)).send({}).expect(202)).body;
    expect(op.requestedByKeyId).toBe(keys.maintainer.id);
    const migrations = (await t.http.get('/api/v1/migrations?clusterId=rm').set(as(ADMIN_KEY)).expect(200)).body.items;
    expect(migrations).toHaveLength(2);
    expect(migrations.map((m: { requestedByKeyId: string }) => m.requestedByKeyId)).toEqual([keys.maintainer.id, keys.maintainer.id]);
    const plan = (await t.http.get(`/api/v1/plans/${migrations[0].planId}`).set(as(ADMIN_KEY)).expect(200)).body;
    expect(plan).toMatchObject({ source: 'maintenance', requestedByKeyId: keys.maintainer.id, approvedByKeyId: keys.maintainer.id });
    expect((await t.http.get(`/api/v1/maintenance/${op.id}`).set(as(ADMIN_KEY)).expect(200)).body.requestedByKeyId).toBe(keys.maintainer.id);

    await t.http.post('/api/v1/clusters/import').set(as(ADMIN_KEY)).send(testCluster('rs', { vmsPerHost: [1] })).expect(201);
    const storage = (await t.http.post('/api/v1/vms/rs-vm001/relocate-storage').set(as(ADMIN_KEY)).send({ datastoreId: 'ds-2' }).expect(202)).body;
    expect(storage.requestedByKeyId).toBe('bootstrap');
  });
});
