import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { deleteKeysUnder } from '../src/redis/delete-keys.js';
import { evacuationCluster } from './support/clusters.js';
import { MIGRATION_QUEUE } from '../src/migrations/migration-queue.js';
import { type ServiceProcess, startService } from './support/run-node.js';
import { migrationEnded } from './support/migration-ended.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

/**
 * Worker processes of their own (the built service with BALLAST_ROLES=worker) against the same
 * PostgreSQL and Redis as the API and scheduler of the test app.
 */
const WORKER_READY = /migrations at once, engine simulated/;

interface MigrationRow {
  id: string;
  state: string;
  vmId: string;
  sourceHostId: string;
  targetHostId: string;
  queuedAt: string | null;
  finishedAt: string | null;
  attempts: number;
}

let t: TestApp;
const workers: ServiceProcess[] = [];

async function startWorker(env: Record<string, string> = {}): Promise<ServiceProcess> {
  const worker = await startService({ ...t.env, BALLAST_ROLES: 'worker', ...env }, WORKER_READY);
  workers.push(worker);
  return worker;
}

async function migrationsOf(clusterId: string): Promise<MigrationRow[]> {
  return (await t.http.get(`/api/v1/migrations?clusterId=${clusterId}&limit=1000`).expect(200)).body.items;
}

async function evacuate(clusterId: string, options: Parameters<typeof evacuationCluster>[0]): Promise<string[]> {
  await t.http.post('/api/v1/clusters/import').send(evacuationCluster(options)).expect(201);
  const plan = (await t.http.post(`/api/v1/clusters/${clusterId}/plans`).send({}).expect(201)).body;
  return (await t.http.post(`/api/v1/plans/${plan.id}/approve`).send({}).expect(202)).body.migrationIds;
}

/** The most migrations a host held a slot for at one instant (from queued until ended). */
function peakPerHost(rows: MigrationRow[]): Map<string, number> {
  const edges: { host: string; at: number; delta: number }[] = [];
  for (const m of rows) {
    for (const host of new Set([m.sourceHostId, m.targetHostId])) {
      edges.push({ host, at: Date.parse(m.queuedAt!), delta: 1 }, { host, at: Date.parse(m.finishedAt!), delta: -1 });
    }
  }
  // Ends before starts at the same instant: a slot freed and taken in one go is not an overlap.
  edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
  const now = new Map<string, number>();
  const peak = new Map<string, number>();
  for (const e of edges) {
    now.set(e.host, (now.get(e.host) ?? 0) + e.delta);
    peak.set(e.host, Math.max(peak.get(e.host) ?? 0, now.get(e.host)!));
  }
  return peak;
}

beforeAll(async () => {
  t = await createTestApp({
    BALLAST_ROLES: 'api,scheduler',
    MIGRATION_MAX_PER_HOST: '3',
    MIGRATION_LOCK_SECONDS: '2',
    SIM_TIME_SCALE: '0.05',
  });
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')));
  await t?.close();
});

describe('two worker processes', () => {
  it('share the work and never exceed the per-host limit', async () => {
    await Promise.all([startWorker({ WORKER_CONCURRENCY: '2' }), startWorker({ WORKER_CONCURRENCY: '2' })]);
    const ids = await evacuate('pair', { id: 'pair', vms: 12, hosts: 4 });
    expect(ids).toHaveLength(12);
    const rows = await waitFor(async () => {
      const all = await migrationsOf('pair');
      return all.every((m) => m.state === 'succeeded') ? all : null;
    }, 60000, 'all 12 migrations to succeed');
    const peaks = peakPerHost(rows);
    expect(peaks.get('pair-h1')).toBe(3);
    for (const [, peak] of peaks) expect(peak).toBeLessThanOrEqual(3);

    const drivers = new Set<string>();
    for (const { id } of rows) {
      const { events } = (await t.http.get(`/api/v1/migrations/${id}`).expect(200)).body;
      const running = events.filter((e: { toState: string }) => e.toState === 'running');
      expect(running).toHaveLength(1);
      drivers.add(running[0].detail.worker);
    }
    expect(drivers.size).toBe(2);
  });

  it('stop gracefully on SIGTERM, finishing what they run', async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop('SIGKILL')));
    await Promise.all([startWorker(), startWorker()]);
    const ids = await evacuate('term', { id: 'term', vms: 2, hosts: 2, vmMemoryMb: 16384 });
    await waitFor(async () => (await migrationsOf('term')).some((m) => m.state === 'running'), 20000, 'a running migration');
    // Nest closes the application, then ends the process with the signal it got.
    expect(await Promise.all(workers.splice(0).map((w) => w.stop('SIGTERM')))).toEqual(['SIGTERM', 'SIGTERM']);
    const rows = await migrationsOf('term');
    const started = rows.filter((m) => m.state !== 'queued' && m.state !== 'pending');
    expect(started.length).toBeGreaterThan(0);
    expect(started.every((m) => m.state === 'succeeded')).toBe(true);
    await startWorker();
    await waitFor(async () => (await migrationsOf('term')).every((m) => m.state === 'succeeded'), 60000, 'the rest to succeed');
    expect(ids).toHaveLength(2);
  });
});

describe('a worker that dies mid-migration', () => {
  it('leaves a migration that another worker reconciles: never lost, never run twice', async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop('SIGKILL')));
    const doomed = await startWorker();
    const [id] = await evacuate('crash', { id: 'crash', vms: 1, hosts: 2, vmMemoryMb: 65536 });
    await waitFor(async () => {
      const { events } = (await t.http.get(`/api/v1/migrations/${id}`).expect(200)).body;
      return events.some((e: { type: string; detail: { iteration?: number } }) => e.type === 'progress' && (e.detail.iteration ?? 0) >= 1);
    }, 30000, 'the migration to be copying memory');
    await doomed.stop('SIGKILL');
    workers.splice(workers.indexOf(doomed), 1);
    expect((await t.http.get(`/api/v1/migrations/${id}`).expect(200)).body.state).toBe('running');

    await startWorker();
    const done = await migrationEnded(t.http, id, 60000, 'the migration to be reconciled');
    expect(done.state).toBe('succeeded');
    expect(done.events.some((e: { type: string }) => e.type === 'reconciled')).toBe(true);
    expect(done.events.filter((e: { toState: string }) => e.toState === 'succeeded')).toHaveLength(1);
    expect((await t.http.get('/api/v1/vms/crash-vm001').expect(200)).body.hostId).toBe('crash-h2');
  });
});

describe('a second delivery of a finished migration', () => {
  it('changes nothing', async () => {
    const [id] = await evacuate('dup', { id: 'dup', vms: 1, hosts: 2 });
    const done = await waitFor(async () => {
      const m = (await t.http.get(`/api/v1/migrations/${id}`).expect(200)).body;
      return m.state === 'succeeded' ? m : null;
    }, 30000, 'the migration to succeed');

    const redis = new Redis(t.env.REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue('migrations', { connection: redis, prefix: t.env.REDIS_PREFIX });
    try {
      const job = await queue.add('migrate', { migrationId: id, clusterId: 'dup', request: {} }, { jobId: id });
      await waitFor(async () => (await job.isCompleted()) || (await queue.getJobState(id)) === 'unknown', 20000, 'the job to be taken');
    } finally {
      await queue.close();
      redis.disconnect();
    }
    const after = (await t.http.get(`/api/v1/migrations/${id}`).expect(200)).body;
    expect(after.events).toEqual(done.events);
    expect(after).toMatchObject({ state: 'succeeded', attempts: 1 });
    expect((await t.http.get('/api/v1/vms/dup-vm001').expect(200)).body.hostId).toBe('dup-h2');
  });
});

interface MigrationEvent {
  type: string;
  toState: string | null;
  detail: Record<string, unknown> | null;
}

const ended = async (id: string, what: string) => (await migrationEnded(t.http, id, 90000, what)) as MigrationRow & { error: string | null; events: MigrationEvent[] };

describe('a queue that Redis loses', () => {
  it('keeps counting attempts in PostgreSQL: MIGRATION_ATTEMPTS (3) holds for the job put back', async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop('SIGKILL')));
    // Every attempt of this VM fails transiently, after its first pre-copy pass.
    await startWorker({ SIM_FAULTS: 'transient:att-vm001:10' });
    const [id] = await evacuate('att', { id: 'att', vms: 1, hosts: 2, vmMemoryMb: 65536 });
    await waitFor(async () => {
      const { events } = (await t.http.get(`/api/v1/migrations/${id}`).expect(200)).body;
      return events.some((e: MigrationEvent) => e.type === 'retry');
    }, 60000, 'the first attempt to fail and be retried');
    // Redis loses the queue (its job and the retry it held); the scheduler puts the job back from PostgreSQL.
    await deleteKeysUnder(t.env.REDIS_URL, `${t.env.REDIS_PREFIX}:${MIGRATION_QUEUE}`);

    const done = await ended(id, 'the migration to run out of attempts');
    expect(done.state).toBe('failed');
    expect(done.attempts).toBe(3);
    const starts = done.events.filter((e) => e.toState === 'running');
    expect(starts.map((e) => e.detail?.attempt)).toEqual([1, 2, 3]);
    expect(starts.some((e) => e.detail?.rebuilt === true)).toBe(true);
    expect(done.error).toMatch(/injected transient fault/);
    expect(done.events.at(-1)?.detail).toMatchObject({ attempt: 3, attemptsAllowed: 3, vmStaysOn: 'att-h1' });
    expect((await t.http.get('/api/v1/vms/att-vm001').expect(200)).body.hostId).toBe('att-h1');
  });
});

describe('a Redis that is emptied while a migration runs', () => {
  it('puts the job back, says so, and runs the migration again from where the VM is, instead of failing it as "on no host"', async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop('SIGKILL')));
    const first = await startWorker();
    const [id] = await evacuate('reset', { id: 'reset', vms: 1, hosts: 2, vmMemoryMb: 65536 });
    await waitFor(async () => {
      const { events } = (await t.http.get(`/api/v1/migrations/${id}`).expect(200)).body;
      return events.some((e: MigrationEvent) => e.type === 'progress');
    }, 30000, 'the migration to be copying memory');
    // Its driver goes, and Redis comes back empty: no job, no lock, and the simulated engine's world
    // (which knew where the VM runs) gone too. PostgreSQL still says running, the VM on its source.
    await first.stop('SIGKILL');
    workers.splice(workers.indexOf(first), 1);
    await deleteKeysUnder(t.env.REDIS_URL, t.env.REDIS_PREFIX);
    await startWorker();

    const done = await ended(id, 'the migration to be reconciled');
    const reconciled = done.events.filter((e) => e.type === 'reconciled');
    expect(reconciled).toEqual([expect.objectContaining({ detail: expect.objectContaining({ cause: 'job-lost', foundOn: null, action: 'migrating again', attempt: 2 }) })]);
    expect(done.state).toBe('succeeded');
    expect(done.error).toBeNull();
    expect(done.events.filter((e) => e.toState === 'succeeded')).toHaveLength(1);
    expect((await t.http.get('/api/v1/vms/reset-vm001').expect(200)).body.hostId).toBe('reset-h2');
  });
});
