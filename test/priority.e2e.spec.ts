import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { testCluster } from './support/clusters.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

/** One migration at a time in the cluster: the order in which they start is the dispatcher's choice. */
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ MIGRATION_MAX_PER_CLUSTER: '1', SIM_TIME_SCALE: '0.01' });
});

afterAll(async () => {
  await t?.close();
});

interface Row {
  id: string;
  priority: number;
  reason: string;
  queuedAt: string | null;
  state: string;
}

describe('priorities', () => {
  it('an evacuation (priority 1) starts before balancing moves approved earlier', async () => {
    // h1 is crowded (balancing moves come off it); h4 will enter maintenance with one VM.
    const snapshot = testCluster('prio', { vmsPerHost: [8, 0, 0, 1], hostMemoryMb: 131072, vmMemoryMb: 8192 });
    await t.http.post('/api/v1/clusters/import').send(snapshot).expect(201);
    const plan = (await t.http.post('/api/v1/clusters/prio/plans').send({ threshold: 5 }).expect(201)).body;
    expect(plan.plan.moves.length).toBeGreaterThan(2);
    expect(plan.plan.moves.every((m: { priority: number }) => m.priority > 1)).toBe(true);
    await t.http.post(`/api/v1/plans/${plan.id}/approve`).send({}).expect(202);
    await waitFor(async () => {
      const rows: Row[] = (await t.http.get('/api/v1/migrations?clusterId=prio&state=running').expect(200)).body.items;
      return rows.length === 1;
    }, 20000, 'the first balancing move to run');

    await t.http.post('/api/v1/hosts/prio-h4/maintenance').send({}).expect(202);
    const rows: Row[] = await waitFor(async () => {
      const all: Row[] = (await t.http.get('/api/v1/migrations?clusterId=prio&limit=100').expect(200)).body.items;
      return all.every((m) => ['succeeded', 'failed', 'cancelled'].includes(m.state)) ? all : null;
    }, 60000, 'every migration to end');
    const started = rows.filter((m) => m.queuedAt).sort((a, b) => Date.parse(a.queuedAt!) - Date.parse(b.queuedAt!));
    const evacuation = started.findIndex((m) => m.reason === 'evacuation');
    // The balancing move already running went first; the evacuation came next, ahead of the rest.
    expect(evacuation).toBe(1);
    expect(started[evacuation].priority).toBe(1);
    expect(started.slice(2).every((m) => m.reason === 'balance')).toBe(true);
    expect(started.length).toBeGreaterThan(2);
  });

  it('a manual migration (priority 1) starts before balancing moves approved earlier', async () => {
    const snapshot = testCluster('hand', { vmsPerHost: [8, 0, 0, 1], hostMemoryMb: 131072, vmMemoryMb: 8192 });
    await t.http.post('/api/v1/clusters/import').send(snapshot).expect(201);
    const plan = (await t.http.post('/api/v1/clusters/hand/plans').send({ threshold: 5 }).expect(201)).body;
    expect(plan.plan.moves.length).toBeGreaterThan(2);
    expect(plan.plan.moves.some((m: { vmId: string }) => m.vmId === 'hand-vm009')).toBe(false);
    await t.http.post(`/api/v1/plans/${plan.id}/approve`).send({}).expect(202);
    await waitFor(async () => {
      const rows: Row[] = (await t.http.get('/api/v1/migrations?clusterId=hand&state=running').expect(200)).body.items;
      return rows.length === 1;
    }, 20000, 'the first balancing move to run');

    const manual = (await t.http.post('/api/v1/vms/hand-vm009/migrate').send({ hostId: 'hand-h3' }).expect(202)).body;
    const rows: Row[] = await waitFor(async () => {
      const all: Row[] = (await t.http.get('/api/v1/migrations?clusterId=hand&limit=100').expect(200)).body.items;
      return all.every((m) => ['succeeded', 'failed', 'cancelled'].includes(m.state)) ? all : null;
    }, 60000, 'every migration to end');
    const started = rows.filter((m) => m.queuedAt).sort((a, b) => Date.parse(a.queuedAt!) - Date.parse(b.queuedAt!));
    // The balancing move already running went first; the manual one came next, ahead of the rest.
    expect(started[1]).toMatchObject({ id: manual.migrationId, reason: 'manual', priority: 1, state: 'succeeded' });
    expect(started.slice(2).every((m) => m.reason === 'balance')).toBe(true);
    expect(started.length).toBeGreaterThan(2);
  });
});
