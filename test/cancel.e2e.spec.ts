import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MIGRATION_ENGINE, type MigrationEngine } from '../src/engine/migration-engine.js';
import { evacuationCluster } from './support/clusters.js';
import { type RedisServer, startRedisServer } from './support/redis-server.js';
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

describe('cancelling while Redis is down', () => {
  let redis: RedisServer;
  let app: TestApp;

  beforeAll(async () => {
    redis = await startRedisServer();
    // A whole Ballast (API, scheduler, worker) on a Redis of this test's own, which it kills and starts again.
    // Slow enough that the migration is still copying when Redis comes back.
    app = await createTestApp({ REDIS_URL: redis.url, SIM_TIME_SCALE: '0.5' });
  });

  afterAll(async () => {
    await redis?.start().catch(() => undefined);
    await app?.close();
    await redis?.remove();
  });

  it('answers at once that the worker was not told, keeps the request, and the migration ends cancelled once Redis is back', async () => {
    const at = async (id: string) => (await app.http.get(`/api/v1/migrations/${id}`).expect(200)).body;
    await app.http.post('/api/v1/clusters/import').send(evacuationCluster({ id: 'rd', vms: 1, hosts: 2, vmMemoryMb: 65536 })).expect(201);
    const plan = (await app.http.post('/api/v1/clusters/rd/plans').send({}).expect(201)).body;
    const [id]: string[] = (await app.http.post(`/api/v1/plans/${plan.id}/approve`).send({}).expect(202)).body.migrationIds;
    const running = await waitFor(async () => {
      const m = await at(id);
      return m.state === 'running' && m.events.some((e: { type: string }) => e.type === 'progress') ? m : null;
    }, 30000, 'the migration to be copying memory');

    await redis.kill();
    // Without a bound the answer waited for Redis, however long it stayed away.
    const answer = await app.http.post(`/api/v1/migrations/${id}/cancel`).timeout(20000).expect(202);
    expect(answer.body).toMatchObject({ id, cancelRequested: true, cancellation: { delivered: false } });
    expect(answer.body.cancellation.message).toMatch(/Redis did not answer.*stored/);
    expect(answer.body.events.map((e: { type: string }) => e.type)).toContain('cancel-requested');

    await redis.start();
    const ended = await waitFor(async () => {
      const m = await at(id);
      return ['succeeded', 'failed', 'cancelled'].includes(m.state) ? m : null;
    }, 60000, 'the migration to end once Redis is back');
    expect(ended.state).toBe('cancelled');
    expect(ended.events.filter((e: { toState: string }) => e.toState === 'running')).toHaveLength(1);
    expect(ended.events.filter((e: { toState: string }) => ['succeeded', 'failed', 'cancelled'].includes(e.toState))).toHaveLength(1);
    // Nothing moved: the inventory and the engine both have the VM on its source.
    expect((await app.http.get(`/api/v1/vms/${running.vmId}`).expect(200)).body.hostId).toBe('rd-h1');
    expect((await app.app.get<MigrationEngine>(MIGRATION_ENGINE).locate(running.vmId)).hostId).toBe('rd-h1');
    const ofVm = (await app.http.get(`/api/v1/migrations?vmId=${running.vmId}`).expect(200)).body.items;
    expect(ofVm).toHaveLength(1);
  });
});
