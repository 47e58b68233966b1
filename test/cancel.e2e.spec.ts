import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { evacuationCluster } from './support/clusters.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

let t: TestApp;

beforeAll(async () => {
  // One migration per host at a time: the evacuation's other moves wait, pending.
  t = await createTestApp({ MIGRATION_MAX_PER_HOST: '1', SIM_TIME_SCALE: '0.05' });
});

afterAll(async () => {
  await t?.close();
});

const get = async (id: string) => (await t.http.get(`/api/v1/migrations/${id}`).expect(200)).body;

describe('cancelling migrations', () => {
  it('stops a running migration (the VM stays on its source), drops a pending one at once, and the rest go on', async () => {
    await t.http.post('/api/v1/clusters/import').send(evacuationCluster({ id: 'cx', vms: 3, hosts: 2, vmMemoryMb: 65536 })).expect(201);
    const plan = (await t.http.post('/api/v1/clusters/cx/plans').send({}).expect(201)).body;
    const ids: string[] = (await t.http.post(`/api/v1/plans/${plan.id}/approve`).send({}).expect(202)).body.migrationIds;

    const running = await waitFor(async () => {
      for (const id of ids) {
        const m = await get(id);
        if (m.state === 'running' && m.events.some((e: { type: string }) => e.type === 'progress')) return m;
      }
      return null;
    }, 20000, 'a running migration');
    const pending = ids.find((id) => id !== running.id)!;
    expect((await get(pending)).state).toBe('pending');

    const dropped = await t.http.post(`/api/v1/migrations/${pending}/cancel`).expect(202);
    expect(dropped.body.state).toBe('cancelled');
    expect(dropped.body.events.at(-1)).toMatchObject({ fromState: 'pending', toState: 'cancelled' });

    const asked = await t.http.post(`/api/v1/migrations/${running.id}/cancel`).expect(202);
    expect(asked.body.cancelRequested).toBe(true);
    const stopped = await waitFor(async () => {
      const m = await get(running.id);
      return m.state === 'cancelled' ? m : null;
    }, 20000, 'the running migration to stop');
    expect(stopped.events.map((e: { type: string }) => e.type)).toContain('cancel-requested');
    expect(stopped.events.at(-1)).toMatchObject({ fromState: 'running', toState: 'cancelled' });
    expect((await t.http.get(`/api/v1/vms/${running.vmId}`).expect(200)).body.hostId).toBe('cx-h1');

    const last = ids.find((id) => id !== running.id && id !== pending)!;
    const done = await waitFor(async () => {
      const m = await get(last);
      return m.state === 'succeeded' ? m : null;
    }, 30000, 'the remaining migration to succeed');
    expect((await t.http.get(`/api/v1/vms/${done.vmId}`).expect(200)).body.hostId).toBe('cx-h2');
    await t.http.post(`/api/v1/migrations/${running.id}/cancel`).expect(409);
  });
});
