import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Snapshot } from '../src/planner/snapshot.js';
import { EvaluationService } from '../src/closedloop/evaluation.service.js';
import { evacuationCluster, testCluster } from './support/clusters.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({
    SIM_TIME_SCALE: '0.002',
    // Migrations into `faulty-h2` are refused; `stuck-vm001` never moves.
    SIM_FAULTS: 'target:faulty-h2,vm:stuck-vm001',
  });
});

afterAll(async () => {
  await t?.close();
});

/** A connected cluster: `vms[i]` VMs on host i+1, each `vmMemoryMb` (8 GiB); every host `hostMemoryMb`. */
function cluster(id: string, vms: number[], options: { hostMemoryMb?: number; poweredOff?: number } = {}): Snapshot {
  return testCluster(id, { vmsPerHost: vms, hostMemoryMb: options.hostMemoryMb ?? 262144, vmMemoryMb: 8192, poweredOff: options.poweredOff });
}

async function load(snapshot: Snapshot): Promise<void> {
  await t.http.post('/api/v1/clusters/import').send(snapshot).expect(201);
}

async function host(id: string) {
  return (await t.http.get(`/api/v1/hosts/${id}`).expect(200)).body;
}

async function operationUntil(id: string, states: string[], timeoutMs = 30000) {
  return waitFor(async () => {
    const op = (await t.http.get(`/api/v1/maintenance/${id}`).expect(200)).body;
    return states.includes(op.state) ? op : null;
  }, timeoutMs, `operation ${id} to be ${states.join(' or ')}`);
}

describe('admission', () => {
  it('refuses a host whose VMs do not fit elsewhere, naming them, and changes nothing', async () => {
    await load(cluster('full', [4, 3], { hostMemoryMb: 40960 }));
    const res = await t.http.post('/api/v1/hosts/full-h1/maintenance').send({}).expect(409);
    expect(res.body.message).toContain('cannot be emptied');
    expect(res.body.unfit.length).toBeGreaterThan(0);
    expect(res.body.unfit[0]).toMatchObject({ vmId: expect.stringMatching(/^full-vm00[1-4]$/), reason: expect.any(String) });
    expect((await host('full-h1')).state).toBe('connected');
    expect((await t.http.get('/api/v1/migrations?clusterId=full').expect(200)).body.total).toBe(0);
    expect((await t.http.get('/api/v1/maintenance?hostId=full-h1').expect(200)).body.total).toBe(0);
  });

  it('a dry run returns the evacuation plan and changes nothing', async () => {
    await load(cluster('dry', [3, 0, 0], { poweredOff: 1 }));
    const res = await t.http.post('/api/v1/hosts/dry-h1/maintenance').send({ dryRun: true }).expect(200);
    expect(res.body).toMatchObject({ dryRun: true, hostId: 'dry-h1', vmsToMove: 2, memoryToMoveGb: 16 });
    expect(res.body.plan.moves.every((m: { fromHostId: string; priority: number; reason: string }) => m.fromHostId === 'dry-h1' && m.priority === 1 && m.reason === 'evacuation')).toBe(true);
    const withOff = await t.http.post('/api/v1/hosts/dry-h1/maintenance').send({ dryRun: true, includePoweredOff: true }).expect(200);
    expect(withOff.body.vmsToMove).toBe(3);
    expect((await host('dry-h1')).state).toBe('connected');
    expect((await t.http.get('/api/v1/migrations?clusterId=dry').expect(200)).body.total).toBe(0);
  });

  it('answers 409 for a failed host (naming HA), 404 for an unknown one, 400 for a bad body', async () => {
    await load(cluster('bad', [1, 1]));
    await t.http.patch('/api/v1/hosts/bad-h2').send({ state: 'failed' }).expect(200);
    const failed = await t.http.post('/api/v1/hosts/bad-h2/maintenance').send({}).expect(409);
    expect(failed.body.message).toContain('HA');
    await t.http.post('/api/v1/hosts/nope/maintenance').send({}).expect(404);
    expect((await t.http.post('/api/v1/hosts/bad-h1/maintenance').send({ timeoutSeconds: 0 }).expect(400)).body.errors[0].field).toBe('body.timeoutSeconds');
    await t.http.post('/api/v1/hosts/bad-h1/maintenance').send({ hurry: true }).expect(400);
    await t.http.patch('/api/v1/hosts/bad-h1').send({ state: 'maintenance' }).expect(409);
    await t.http.get('/api/v1/maintenance/00000000-0000-4000-8000-000000000000').expect(404);
  });
});

describe('evacuation', () => {
  let operationId: string;

  it('empties the host by live migration, priority 1, then puts it in maintenance', async () => {
    await load(cluster('evac', [6, 1, 1, 1], { poweredOff: 1 }));
    const res = await t.http.post('/api/v1/hosts/evac-h1/maintenance').send({}).expect(202);
    operationId = res.body.id;
    expect(res.body).toMatchObject({ hostId: 'evac-h1', state: 'evacuating', hostState: 'entering-maintenance', includePoweredOff: false });
    expect(res.body.progress).toMatchObject({ vmsTotal: 5, gbTotal: 40 });
    await t.http.post('/api/v1/hosts/evac-h1/maintenance').send({}).expect(409);

    const done = await operationUntil(operationId, ['completed']);
    expect(done.hostState).toBe('maintenance');
    expect(done.progress).toMatchObject({ vmsTotal: 5, vmsMoved: 5, vmsInFlight: 0, vmsFailed: 0, vmsRemaining: 0, gbMoved: 40, etaSeconds: 0 });
    expect(done.vms.every((vm: { status: string; hostId: string }) => vm.status === 'moved' && vm.hostId !== 'evac-h1')).toBe(true);
    expect(done.events.map((e: { type: string }) => e.type)).toEqual(['planned', 'entering', 'completed']);
    const left = (await t.http.get('/api/v1/vms?hostId=evac-h1').expect(200)).body.items;
    expect(left.map((vm: { id: string; powerState: string }) => [vm.id, vm.powerState])).toEqual([['evac-vm001', 'off']]);
    const migrations = (await t.http.get('/api/v1/migrations?hostId=evac-h1').expect(200)).body.items;
    expect(migrations).toHaveLength(5);
    expect(migrations.every((m: { priority: number; reason: string; operationId: string; state: string }) => m.priority === 1 && m.reason === 'evacuation' && m.operationId === operationId && m.state === 'succeeded')).toBe(true);
    await t.http.post('/api/v1/hosts/evac-h1/maintenance').send({}).expect(409);
    await t.http.post(`/api/v1/maintenance/${operationId}/cancel`).expect(409);
  });

  it('shows progress from the bytes moved, before any VM has left, never faster than the host\'s link', async () => {
    // A 1 GiB VM over a 100 Mb/s link: about 90 simulated seconds, under a second to a few here.
    await load(testCluster('slow', { vmsPerHost: [1, 0, 0], vmMemoryMb: 1024, migrationBandwidthMbps: 100 }));
    const { id } = (await t.http.post('/api/v1/hosts/slow-h1/maintenance').send({}).expect(202)).body;
    const midway = await waitFor(async () => {
      const op = (await t.http.get(`/api/v1/maintenance/${id}`).expect(200)).body;
      return op.progress.vmsMoved === 0 && op.progress.gbMoved > 0 ? op : null;
    }, 30000, 'memory copied before any VM left');
    expect(midway.progress.gbTotal).toBe(1);
    expect(midway.progress.throughputMbps).toBeGreaterThan(0);
    expect(midway.progress.throughputMbps).toBeLessThanOrEqual(100);
    // The ETA is the memory still to copy at that throughput.
    const remainingBits = (1 - midway.progress.gbMoved) * 1024 ** 3 * 8;
    expect(midway.progress.etaSeconds).toBeCloseTo(remainingBits / 1e6 / midway.progress.throughputMbps, -1);
    expect(midway.vms.some((vm: { status: string; transferredBytes: number | null }) => vm.status === 'in-flight' && vm.transferredBytes! > 0)).toBe(true);
    const done = await operationUntil(id, ['completed']);
    expect(done.progress).toMatchObject({ vmsMoved: 1, gbMoved: 1, throughputMbps: 0, etaSeconds: 0 });
  });

  it('the balancer never targets a host in maintenance', async () => {
    const res = await t.http.post('/api/v1/clusters/evac/plans?dryRun=true').send({ threshold: 5 }).expect(201);
    expect(res.body.plan.moves.some((m: { toHostId: string }) => m.toHostId === 'evac-h1')).toBe(false);
  });

  it('leaves maintenance and brings the VMs back as a recorded plan', async () => {
    const res = await t.http.delete('/api/v1/hosts/evac-h1/maintenance').send({ returnVms: true }).expect(200);
    expect(res.body.host.state).toBe('connected');
    expect(res.body.operationId).toBe(operationId);
    expect(res.body.returnPlan.plan.moves).toHaveLength(5);
    expect(res.body.returnPlan.plan.moves.every((m: { toHostId: string }) => m.toHostId === 'evac-h1')).toBe(true);
    expect(res.body.notReturned).toEqual([]);
    await waitFor(async () => (await t.http.get('/api/v1/vms?hostId=evac-h1').expect(200)).body.total === 6, 30000, 'the VMs to come back');
    const op = (await t.http.get(`/api/v1/maintenance/${operationId}`).expect(200)).body;
    expect(op.returnPlanId).toBe(res.body.returnPlan.id);
    expect(op.events.at(-1)).toMatchObject({ type: 'exited', detail: { returnVms: true } });
    await t.http.delete('/api/v1/hosts/evac-h1/maintenance').send({}).expect(409);
  });

  it('the VMs brought back are in cooldown: the closed loop does not move them again at once', async () => {
    const returned = (await t.http.get('/api/v1/vms?hostId=evac-h1&powerState=on').expect(200)).body.items.map((vm: { id: string }) => vm.id) as string[];
    await t.app.get(EvaluationService).evaluate('evac');
    const status = (await t.http.get('/api/v1/clusters/evac/status').expect(200)).body;
    const held = new Map((status.closedLoop.heldVms as { vmId: string; reason: string }[]).map((h) => [h.vmId, h.reason]));
    expect(returned).toHaveLength(5);
    for (const id of returned) expect(held.get(id)).toMatch(/came back to evac-h1 within a day/);
  });
});

describe('a host imported in entering-maintenance', () => {
  it('is evacuated by the closed loop and in maintenance once empty', async () => {
    await load(evacuationCluster({ id: 'imported', vms: 2, hosts: 3 }));
    expect((await host('imported-h1')).state).toBe('entering-maintenance');
    // Not while it holds VMs (the supervisor looks every second).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await host('imported-h1')).state).toBe('entering-maintenance');
    // The sample cluster is manual: the closed loop recommends the evacuation, an operator approves it.
    const { planId } = await t.app.get(EvaluationService).evaluate('imported');
    await t.http.post(`/api/v1/plans/${planId}/approve`).send({}).expect(202);
    await waitFor(async () => ((await host('imported-h1')).state === 'maintenance' ? true : null), 30000, 'the emptied host to be in maintenance');
    expect((await t.http.get('/api/v1/vms?hostId=imported-h1').expect(200)).body.total).toBe(0);
  });
});

describe('powered-off VMs', () => {
  it('are re-registered on other hosts with includePoweredOff', async () => {
    await load(cluster('cold', [3, 0, 0], { poweredOff: 2 }));
    const res = await t.http.post('/api/v1/hosts/cold-h1/maintenance').send({ includePoweredOff: true }).expect(202);
    expect(res.body.progress.vmsTotal).toBe(3);
    const done = await operationUntil(res.body.id, ['completed']);
    expect(done.hostState).toBe('maintenance');
    expect((await t.http.get('/api/v1/vms?hostId=cold-h1').expect(200)).body.total).toBe(0);
    const off = (await t.http.get('/api/v1/vms?clusterId=cold&powerState=off').expect(200)).body.items;
    expect(off).toHaveLength(2);
    expect(off.every((vm: { hostId: string }) => vm.hostId !== 'cold-h1')).toBe(true);
  });
});

describe('when migrations fail', () => {
  it('retries a failed migration on another target', async () => {
    await load(cluster('faulty', [4, 0, 0]));
    const res = await t.http.post('/api/v1/hosts/faulty-h1/maintenance').send({}).expect(202);
    const done = await operationUntil(res.body.id, ['completed']);
    expect(done.vms.every((vm: { hostId: string }) => vm.hostId === 'faulty-h3')).toBe(true);
    const migrations = (await t.http.get('/api/v1/migrations?clusterId=faulty&limit=100').expect(200)).body.items;
    const failed = migrations.filter((m: { state: string }) => m.state === 'failed');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((m: { targetHostId: string }) => m.targetHostId === 'faulty-h2')).toBe(true);
    for (const f of failed) {
      expect(migrations.some((m: { vmId: string; state: string; targetHostId: string }) => m.vmId === f.vmId && m.state === 'succeeded' && m.targetHostId === 'faulty-h3')).toBe(true);
    }
    expect(done.events.map((e: { type: string }) => e.type)).toContain('retry-planned');
  });

  it('stalls with reasons at the timeout, keeps the host entering maintenance, and cancels back to connected', async () => {
    await load(cluster('stuck', [2, 0]));
    const res = await t.http.post('/api/v1/hosts/stuck-h1/maintenance').send({ timeoutSeconds: 3 }).expect(202);
    const stalled = await operationUntil(res.body.id, ['stalled']);
    expect(stalled.hostState).toBe('entering-maintenance');
    expect(stalled.reasons).toEqual([{ vmId: 'stuck-vm001', reason: expect.stringMatching(/^1 migration failed, the last: .+; no other host takes it/) }]);
    expect(stalled.progress).toMatchObject({ vmsTotal: 2, vmsMoved: 1, vmsFailed: 1 });
    expect(stalled.events.map((e: { type: string }) => e.type)).toContain('stalled');

    const cancelled = (await t.http.post(`/api/v1/maintenance/${res.body.id}/cancel`).expect(200)).body;
    expect(cancelled).toMatchObject({ state: 'cancelled', hostState: 'connected' });
    expect((await host('stuck-h1')).state).toBe('connected');
    expect((await t.http.get('/api/v1/vms/stuck-vm002').expect(200)).body.hostId).toBe('stuck-h2');
  });
});

describe('several hosts', () => {
  it('evacuates two hosts at once when the rest can hold them, and refuses a third that would not fit', async () => {
    // A host holds 5 VMs: h3 and h4 take h1's and h2's 6, not h5's 5 more.
    await load(cluster('pair', [3, 3, 0, 0, 5], { hostMemoryMb: 40960 }));
    const first = await t.http.post('/api/v1/hosts/pair-h1/maintenance').send({}).expect(202);
    const second = await t.http.post('/api/v1/hosts/pair-h2/maintenance').send({}).expect(202);
    const third = await t.http.post('/api/v1/hosts/pair-h5/maintenance').send({}).expect(409);
    expect(third.body.unfit.length).toBeGreaterThan(0);
    expect(third.body.unfit.every((u: { vmId: string }) => /^pair-vm0(0[7-9]|1[01])$/.test(u.vmId))).toBe(true);
    expect((await host('pair-h5')).state).toBe('connected');
    await operationUntil(first.body.id, ['completed']);
    await operationUntil(second.body.id, ['completed']);
    const placed = (await t.http.get('/api/v1/vms?clusterId=pair').expect(200)).body.items;
    expect(placed.filter((vm: { hostId: string }) => vm.hostId === 'pair-h1' || vm.hostId === 'pair-h2')).toEqual([]);
    const list = (await t.http.get('/api/v1/maintenance?clusterId=pair&state=completed').expect(200)).body;
    expect(list.total).toBe(2);
  });
});
