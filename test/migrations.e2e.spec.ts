import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MIGRATION_ENGINE, type MigrationEngine } from '../src/engine/migration-engine.js';
import type { Snapshot } from '../src/planner/snapshot.js';
import { evacuationCluster } from './support/clusters.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

let t: TestApp;

beforeAll(async () => {
  // 1000x faster than real time; `slow-` VMs are big enough to be caught running.
  t = await createTestApp({ SIM_TIME_SCALE: '0.001', SIM_FAULTS: 'vm:fail-vm001,transient:flaky-vm001:1', MIGRATION_ATTEMPTS: '3' });
});

afterAll(async () => {
  await t?.close();
});

async function importCluster(snapshot: Snapshot): Promise<void> {
  await t.http.post('/api/v1/clusters/import').send(snapshot).expect(201);
}

async function approvedPlan(clusterId: string, body: Record<string, unknown> = {}) {
  const plan = await t.http.post(`/api/v1/clusters/${clusterId}/plans`).send({}).expect(201);
  const approval = await t.http.post(`/api/v1/plans/${plan.body.id}/approve`).send(body).expect(202);
  return { plan: plan.body, migrationIds: approval.body.migrationIds as string[] };
}

async function migration(id: string) {
  return (await t.http.get(`/api/v1/migrations/${id}`).expect(200)).body;
}

function ended(state: string): boolean {
  return ['succeeded', 'failed', 'cancelled'].includes(state);
}

async function untilEnded(id: string, timeoutMs = 20000) {
  return waitFor(async () => {
    const m = await migration(id);
    return ended(m.state) ? m : null;
  }, timeoutMs, `migration ${id} to end`);
}

describe('plans', () => {
  it('a dry run returns the plan and its trace without storing anything', async () => {
    await importCluster(evacuationCluster({ id: 'dry', vms: 3 }));
    const res = await t.http.post('/api/v1/clusters/dry/plans?dryRun=true').send({ threshold: 2 }).expect(201);
    expect(res.body.plan).toMatchObject({ version: 1, clusterId: 'dry' });
    expect(res.body.plan.moves).toHaveLength(3);
    expect(res.body.plan.moves.every((m: { priority: number; reason: string }) => m.priority === 1 && m.reason === 'evacuation')).toBe(true);
    expect(res.body.trace).toBeDefined();
    expect((await t.http.get('/api/v1/plans?clusterId=dry').expect(200)).body.total).toBe(0);
  });

  it('refuses bad plan options, unknown clusters and unknown plans', async () => {
    expect((await t.http.post('/api/v1/clusters/dry/plans').send({ threshold: 6 }).expect(400)).body.errors[0].field).toBe('body.threshold');
    await t.http.post('/api/v1/clusters/dry/plans').send({ aggressive: true }).expect(400);
    await t.http.post('/api/v1/clusters/dry/plans?dryRun=yes').send({}).expect(400);
    await t.http.post('/api/v1/clusters/nope/plans').send({}).expect(404);
    await t.http.get('/api/v1/plans/not-a-uuid').expect(404);
    await t.http.get('/api/v1/plans/00000000-0000-4000-8000-000000000000').expect(404);
    await t.http.post('/api/v1/plans/00000000-0000-4000-8000-000000000000/approve').send({}).expect(404);
  });

  it('stores a plan; approving runs every move to success with its history and the new placement', async () => {
    await importCluster(evacuationCluster({ id: 'run', vms: 4 }));
    const { plan, migrationIds } = await approvedPlan('run');
    expect(plan.status).toBe('proposed');
    expect(migrationIds).toHaveLength(4);
    expect((await t.http.get(`/api/v1/plans/${plan.id}`).expect(200)).body).toMatchObject({ status: 'approved', approvedMoves: [0, 1, 2, 3] });

    for (const [index, id] of migrationIds.entries()) {
      const done = await untilEnded(id);
      const move = plan.plan.moves[index];
      expect(done).toMatchObject({ state: 'succeeded', vmId: move.vmId, sourceHostId: 'run-h1', targetHostId: move.toHostId, attempts: 1 });
      expect(done.result).toMatchObject({ hostId: move.toHostId, macPreserved: true, networkNotified: true });
      // The simulated switchover is the model's: held to the limit Ballast set.
      expect(done.result.downtimeLimitMs).toBe(t.config.MIGRATION_DOWNTIME_LIMIT_MS);
      expect(done.result.downtimeMs).toBeLessThanOrEqual(done.result.downtimeLimitMs);
      const states = done.events.filter((e: { type: string }) => e.type === 'state').map((e: { toState: string }) => e.toState);
      expect(states).toEqual(['pending', 'queued', 'running', 'succeeded']);
      expect(done.events.some((e: { type: string }) => e.type === 'progress')).toBe(true);
      const vm = (await t.http.get(`/api/v1/vms/${move.vmId}`).expect(200)).body;
      expect(vm.hostId).toBe(move.toHostId);
      expect(vm.lastMigratedAt).toBeDefined();
    }
    const listed = await t.http.get(`/api/v1/migrations?planId=${plan.id}&state=succeeded`).expect(200);
    expect(listed.body.total).toBe(4);
    expect((await t.http.get('/api/v1/migrations?hostId=run-h1').expect(200)).body.total).toBe(4);
    await t.http.post(`/api/v1/plans/${plan.id}/approve`).send({}).expect(409);
  });

  it('approves a chosen subset, in plan order', async () => {
    await importCluster(evacuationCluster({ id: 'subset', vms: 3 }));
    const plan = (await t.http.post('/api/v1/clusters/subset/plans').send({}).expect(201)).body;
    await t.http.post(`/api/v1/plans/${plan.id}/approve`).send({ moves: [7] }).expect(400);
    await t.http.post(`/api/v1/plans/${plan.id}/approve`).send({ moves: [0, 0] }).expect(400);
    const approval = await t.http.post(`/api/v1/plans/${plan.id}/approve`).send({ moves: [2, 0] }).expect(202);
    expect(approval.body.plan.approvedMoves).toEqual([0, 2]);
    const first = await untilEnded(approval.body.migrationIds[0]);
    expect(first.vmId).toBe(plan.plan.moves[0].vmId);
    await untilEnded(approval.body.migrationIds[1]);
  });

  it('refuses the moves that are no longer valid with the reason (a VM moved, a host changed state); the others go ahead', async () => {
    await importCluster(evacuationCluster({ id: 'stale', vms: 2 }));
    const moved = (await t.http.post('/api/v1/clusters/stale/plans').send({}).expect(201)).body;
    const vmId = moved.plan.moves[0].vmId;
    await t.http.patch(`/api/v1/vms/${vmId}`).send({ hostId: 'stale-h4' }).expect(200);
    const partly = (await t.http.post(`/api/v1/plans/${moved.id}/approve`).send({}).expect(202)).body;
    expect(partly.refused).toEqual([{ index: 0, vmId, plugin: 'sequence', reason: 'the VM is on stale-h4 at this point, not stale-h1' }]);
    expect(partly.migrationIds).toHaveLength(1);
    expect(partly.plan).toMatchObject({ status: 'proposed', approvedMoves: [1] });
    await untilEnded(partly.migrationIds[0]);

    await importCluster(evacuationCluster({ id: 'stale2', vms: 1 }));
    const changed = (await t.http.post('/api/v1/clusters/stale2/plans').send({}).expect(201)).body;
    const target = changed.plan.moves[0].toHostId;
    await t.http.patch(`/api/v1/hosts/${target}`).send({ state: 'standby' }).expect(200);
    const refusal = (await t.http.post(`/api/v1/plans/${changed.id}/approve`).send({}).expect(409)).body;
    expect(refusal.message).toContain(`move 0 (${changed.plan.moves[0].vmId}) is not valid now: ${target} is standby`);
    expect(refusal.problems).toEqual([expect.objectContaining({ index: 0, plugin: 'host-state' })]);
    expect((await t.http.get(`/api/v1/migrations?clusterId=stale2`).expect(200)).body.total).toBe(0);
    expect((await t.http.get(`/api/v1/plans/${changed.id}`).expect(200)).body.status).toBe('proposed');
  });

  it('rejects a plan once', async () => {
    await importCluster(evacuationCluster({ id: 'reject', vms: 1 }));
    const plan = (await t.http.post('/api/v1/clusters/reject/plans').send({}).expect(201)).body;
    expect((await t.http.post(`/api/v1/plans/${plan.id}/reject`).expect(200)).body.status).toBe('rejected');
    await t.http.post(`/api/v1/plans/${plan.id}/reject`).expect(409);
    await t.http.post(`/api/v1/plans/${plan.id}/approve`).send({}).expect(409);
  });
});

describe('engine failures', () => {
  it('a failed migration leaves the VM on its source and says why', async () => {
    await importCluster(evacuationCluster({ id: 'fail', vms: 1 }));
    const { migrationIds } = await approvedPlan('fail');
    const done = await untilEnded(migrationIds[0]);
    expect(done.state).toBe('failed');
    expect(done.error).toMatch(/\w/);
    expect(done.events.at(-1)).toMatchObject({ type: 'state', fromState: 'running', toState: 'failed' });
    expect(done.events.at(-1).detail.vmStaysOn).toBe('fail-h1');
    expect((await t.http.get('/api/v1/vms/fail-vm001').expect(200)).body.hostId).toBe('fail-h1');
  });

  it('the engine\'s precheck refuses a VM that is not on the source: the migration fails with its reason, nothing moves', async () => {
    const cluster = evacuationCluster({ id: 'pre', vms: 1, hosts: 3 });
    await importCluster(cluster);
    // The engine's world has the VM on the third host, the inventory on the first.
    const engine = t.app.get<MigrationEngine>(MIGRATION_ENGINE);
    const vm = cluster.vms[0];
    await engine.register([{ vm: { id: vm.id, memoryMb: vm.memoryMb, macAddress: 'unused', datastores: vm.datastores }, hostId: 'pre-h3', running: true }]);
    const { migrationIds } = await approvedPlan('pre');
    const done = await untilEnded(migrationIds[0]);
    expect(done).toMatchObject({ state: 'failed', error: `the simulated engine refused the migration: VM ${vm.id} runs on pre-h3, not on pre-h1` });
    expect(done.events.at(-1)).toMatchObject({
      type: 'state',
      fromState: 'running',
      toState: 'failed',
      detail: { code: 'precheck-refused', reason: `VM ${vm.id} runs on pre-h3, not on pre-h1`, vmStaysOn: 'pre-h1' },
    });
    // The engine never started it: no progress, the VM where the engine had it.
    expect(done.events.some((e: { type: string }) => e.type === 'progress')).toBe(false);
    expect(await engine.locate(vm.id)).toMatchObject({ hostId: 'pre-h3', migrating: false });
    expect((await t.http.get(`/api/v1/vms/${vm.id}`).expect(200)).body.hostId).toBe('pre-h1');
  });

  it('a transient engine error is retried with backoff, then succeeds', async () => {
    await importCluster(evacuationCluster({ id: 'flaky', vms: 1 }));
    const { migrationIds } = await approvedPlan('flaky');
    const done = await untilEnded(migrationIds[0]);
    expect(done).toMatchObject({ state: 'succeeded', attempts: 2 });
    const transitions = done.events.filter((e: { type: string }) => e.type !== 'progress').map((e: { type: string; toState: string }) => `${e.type}:${e.toState}`);
    expect(transitions).toEqual(['state:pending', 'state:queued', 'state:running', 'retry:queued', 'state:running', 'state:succeeded']);
  });
});

describe('storage relocation', () => {
  it('moves a running VM\'s disks to another datastore of its host', async () => {
    await importCluster(evacuationCluster({ id: 'store', vms: 1, hosts: 2 }));
    const res = await t.http.post('/api/v1/vms/store-vm001/relocate-storage').send({ datastoreId: 'ds-2' }).expect(202);
    expect(res.body).toMatchObject({ kind: 'storage', sourceDatastoreId: 'ds-1', targetDatastoreId: 'ds-2', sourceHostId: 'store-h1' });
    const done = await untilEnded(res.body.id);
    expect(done.state).toBe('succeeded');
    expect(done.events.filter((e: { type: string }) => e.type === 'state').map((e: { toState: string }) => e.toState)).toEqual([
      'pending',
      'queued',
      'running',
      'succeeded',
    ]);
    const vm = (await t.http.get('/api/v1/vms/store-vm001').expect(200)).body;
    expect(vm).toMatchObject({ hostId: 'store-h1', datastores: ['ds-2'] });
  });

  it('copies the VM\'s disks by their size (diskMb), which a snapshot carries', async () => {
    await t.http.patch('/api/v1/vms/store-vm001').send({ diskMb: 1024 }).expect(200);
    const res = await t.http.post('/api/v1/vms/store-vm001/relocate-storage').send({ datastoreId: 'ds-1' }).expect(202);
    const done = await untilEnded(res.body.id);
    expect(done.state).toBe('succeeded');
    const mib = 1024 * 1024;
    // The whole disk, and what the guest wrote meanwhile: far from the 20 GiB assumed without a size.
    expect(done.result.transferredBytes).toBeGreaterThanOrEqual(1024 * mib);
    expect(done.result.transferredBytes).toBeLessThan(2048 * mib);
    const snapshot = (await t.http.get('/api/v1/clusters/store/snapshot').expect(200)).body;
    expect(snapshot.vms[0]).toMatchObject({ id: 'store-vm001', diskMb: 1024, datastores: ['ds-1'] });
  });

  it('refuses an unknown datastore, the one it is on, and unknown VMs', async () => {
    const bad = await t.http.post('/api/v1/vms/store-vm001/relocate-storage').send({ datastoreId: 'ds-9' }).expect(400);
    expect(bad.body.errors[0].field).toBe('body.datastoreId');
    await t.http.post('/api/v1/vms/store-vm001/relocate-storage').send({ datastoreId: 'ds-1' }).expect(409);
    await t.http.post('/api/v1/vms/store-vm001/relocate-storage').send({}).expect(400);
    await t.http.post('/api/v1/vms/nope/relocate-storage').send({ datastoreId: 'ds-1' }).expect(404);
  });
});

describe('migrations API', () => {
  it('filters by state, kind, VM and time; refuses bad filters', async () => {
    const all = (await t.http.get('/api/v1/migrations?limit=1000').expect(200)).body;
    expect(all.total).toBeGreaterThan(5);
    const storage = (await t.http.get('/api/v1/migrations?kind=storage').expect(200)).body;
    expect(storage.items.every((m: { kind: string }) => m.kind === 'storage')).toBe(true);
    expect((await t.http.get('/api/v1/migrations?vmId=fail-vm001&state=failed').expect(200)).body.total).toBe(1);
    const future = new Date(Date.now() + 3600_000).toISOString();
    expect((await t.http.get(`/api/v1/migrations?since=${future}`).expect(200)).body.total).toBe(0);
    expect((await t.http.get(`/api/v1/migrations?until=${future}`).expect(200)).body.total).toBe(all.total);
    await t.http.get('/api/v1/migrations?state=flying').expect(400);
    await t.http.get('/api/v1/migrations?since=yesterday').expect(400);
    await t.http.get('/api/v1/migrations?planId=abc').expect(400);
    await t.http.get('/api/v1/migrations/not-a-uuid').expect(404);
    await t.http.post('/api/v1/migrations/00000000-0000-4000-8000-000000000000/cancel').expect(404);
  });

  it('refuses to cancel a migration that ended', async () => {
    const [done] = (await t.http.get('/api/v1/migrations?state=succeeded&limit=1').expect(200)).body.items;
    const res = await t.http.post(`/api/v1/migrations/${done.id}/cancel`).expect(409);
    expect(res.body.message).toContain('succeeded');
  });
});

describe('deleting a cluster', () => {
  it('takes its migrations and their history with it', async () => {
    const { DataSource } = await import('typeorm');
    const db = t.app.get(DataSource);
    const [{ before }] = await db.query(
      `SELECT count(*)::int AS before FROM migration_events e JOIN migrations m ON m.id = e.migration_id WHERE m.cluster_id = 'run'`,
    );
    expect(before).toBeGreaterThan(0);
    await t.http.delete('/api/v1/clusters/run?force=true').expect(204);
    expect((await t.http.get('/api/v1/migrations?clusterId=run').expect(200)).body.total).toBe(0);
    const [{ orphans }] = await db.query(`SELECT count(*)::int AS orphans FROM migration_events e WHERE NOT EXISTS (SELECT 1 FROM migrations m WHERE m.id = e.migration_id)`);
    expect(orphans).toBe(0);
  });
});
