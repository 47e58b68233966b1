import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Snapshot, Weekday } from '../src/planner/snapshot.js';
import { CLOCK, type Clock } from '../src/closedloop/clock.js';
import { EvaluationService } from '../src/closedloop/evaluation.service.js';
import { host, snapshot, vm, vmsOn } from './support/builders.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/**
 * The closed loop in the service: evaluations by automation level, the one open recommendation,
 * planning around migrations in flight, and the status. No worker runs here: migrations stay
 * pending (in flight for the planner), and the test moves the clock the service reads.
 */
let t: TestApp;
let clock: Clock;
let offsetMs = 0;
const MIN = 60_000;

beforeAll(async () => {
  t = await createTestApp({ BALLAST_ROLES: 'api,scheduler' });
  clock = t.app.get<Clock>(CLOCK);
  clock.now = () => new Date(Date.now() + offsetMs);
});
afterAll(async () => t?.close());

const evaluate = (clusterId: string) => t.app.get(EvaluationService).evaluate(clusterId);
const later = (minutes: number) => (offsetMs += minutes * MIN);

/** h1 runs 10 VMs of 8,000 MHz (104 % of 76,800 MHz): overloaded at threshold 3 (85 %). */
function hotCluster(id: string, policy: Partial<Snapshot['policy']>, extraHosts: Snapshot['hosts'] = []): Snapshot {
  return snapshot({
    clusterId: id,
    hosts: [host(`${id}-h1`), host(`${id}-h2`), host(`${id}-h3`), ...extraHosts],
    vms: [...vmsOn(`${id}-h1`, 10, `${id}-hot`, { cpuDemandMhz: 8_000, memoryActiveMb: 2_000 }), vm(`${id}-cool`, `${id}-h2`, { cpuDemandMhz: 1_000 })],
    policy: { migrationThreshold: 3, resourceWeights: { cpu: 1, memory: 0 }, ...policy },
  });
}

async function migrationsOf(clusterId: string) {
  return (await t.http.get(`/api/v1/migrations?clusterId=${clusterId}&limit=1000`).expect(200)).body.items as { vmId: string; sourceHostId: string; targetHostId: string; state: string }[];
}

async function proposed(clusterId: string) {
  return (await t.http.get(`/api/v1/plans?clusterId=${clusterId}&status=proposed`).expect(200)).body.items as { id: string; plan: { moves: unknown[] } }[];
}

const status = async (clusterId: string) => (await t.http.get(`/api/v1/clusters/${clusterId}/status`).expect(200)).body.closedLoop;

describe('fully automated', () => {
  it('waits for the hold time, then starts relief migrations; the status says what and why', async () => {
    await t.http.post('/api/v1/clusters/import').send(hotCluster('fa', { automationLevel: 'fully-automated', holdMinutes: 5, maxMigrationsPerVmDay: 2 })).expect(201);
    const first = await evaluate('fa');
    expect(first).toMatchObject({ outcome: 'evaluated', started: 0 });
    expect(first.summary).toMatch(/fa-h1 overloaded \(cpu 104 %, line 85 %\) seen, waiting for it to hold 5 min/);
    expect(await migrationsOf('fa')).toEqual([]);
    const seen = await status('fa');
    expect(seen.detections).toContainEqual(expect.objectContaining({ kind: 'overloaded', subject: 'fa-h1', holdSeconds: 300, acting: false }));
    expect(seen.detections.find((d: { subject: string }) => d.subject === 'fa-h1').holdLeftSeconds).toBeGreaterThan(290);
    expect(seen.lastEvaluation.summary).toBe(first.summary);

    later(5);
    const second = await evaluate('fa');
    expect(second.started).toBeGreaterThan(0);
    const moves = await migrationsOf('fa');
    expect(moves).toHaveLength(second.started);
    expect(moves.every((m) => m.sourceHostId === 'fa-h1' && m.state === 'pending')).toBe(true);
    const after = await status('fa');
    expect(after.lastEvaluation).toMatchObject({ movesStarted: second.started, recommended: 0 });
    expect(after.lastEvaluation.summary).toMatch(/started \d+ migrations?/);
    expect(after.churnBudget).toMatchObject({ allowedPerDay: 22, usedLastDay: 0, maxMigrationsPerVmDay: 2 });
    expect(after.changeWindow).toMatchObject({ open: true, timeZone: null });
  });

  it('plans around migrations in flight: moving VMs stay put, a second hot host is relieved at once', async () => {
    const moving = await migrationsOf('fa');
    // fa-h2 becomes hot as well, while fa-h1's migrations have not run.
    for (let i = 1; i <= 4; i++) {
      await t.http.post('/api/v1/vms').send(vm(`fa-late-${i}`, 'fa-h2', { cpuDemandMhz: 16_000, memoryActiveMb: 1_000 })).expect(201);
    }
    const seen = await evaluate('fa');
    later(5);
    const third = await evaluate('fa');
    const all = await migrationsOf('fa');
    const fresh = all.filter((m) => !moving.some((old) => old.vmId === m.vmId));
    expect(seen.started + third.started).toBe(fresh.length);
    expect(fresh.length).toBeGreaterThan(0);
    // No VM has two migrations, and the new ones leave the new hot spot.
    expect(new Set(all.map((m) => m.vmId)).size).toBe(all.length);
    expect(fresh.some((m) => m.sourceHostId === 'fa-h2')).toBe(true);
  });
});

describe('manual', () => {
  it('keeps one open recommendation, refreshed at each evaluation, and starts nothing', async () => {
    await t.http.post('/api/v1/clusters/import').send(hotCluster('man', { automationLevel: 'manual', holdMinutes: 0 })).expect(201);
    const first = await evaluate('man');
    expect(first.started).toBe(0);
    expect(first.recommended).toBeGreaterThan(0);
    const [open] = await proposed('man');
    for (let i = 0; i < 3; i++) {
      later(5);
      const again = await evaluate('man');
      expect(again.planId).toBe(open.id);
    }
    expect((await proposed('man')).map((p) => p.id)).toEqual([open.id]);
    expect(await migrationsOf('man')).toEqual([]);
    expect((await status('man')).lastEvaluation.summary).toContain('the cluster is manual');
  });

  it('withdraws the recommendation once nothing calls for it', async () => {
    for (let i = 1; i <= 10; i++) await t.http.patch(`/api/v1/vms/man-hot-${i}`).send({ cpuDemandMhz: 100 }).expect(200);
    later(5);
    const calm = await evaluate('man');
    expect(calm.recommended).toBe(0);
    expect(await proposed('man')).toEqual([]);
  });
});

describe('manual, approved in steps', () => {
  it('a recommendation approved in part keeps what was approved; the next evaluation recommends the rest anew', async () => {
    await t.http.post('/api/v1/clusters/import').send(hotCluster('step', { automationLevel: 'manual', holdMinutes: 0 })).expect(201);
    await evaluate('step');
    const [open] = (await proposed('step')) as unknown as { id: string; plan: { moves: { vmId: string }[] } }[];
    expect(open.plan.moves.length).toBeGreaterThan(1);
    const approval = (await t.http.post(`/api/v1/plans/${open.id}/approve`).send({ moves: [0] }).expect(202)).body;
    expect(approval.plan).toMatchObject({ status: 'proposed', approvedMoves: [0] });

    later(5);
    const again = await evaluate('step');
    expect(again.planId).not.toBe(open.id);
    const kept = (await t.http.get(`/api/v1/plans/${open.id}`).expect(200)).body;
    expect(kept).toMatchObject({ status: 'approved', approvedMoves: [0], plan: { moves: open.plan.moves } });
    expect(kept.trace.withdrawn).toContain('superseded by a newer recommendation');
    const [fresh] = (await proposed('step')) as unknown as { id: string; plan: { moves: { vmId: string }[] } }[];
    expect(fresh.id).toBe(again.planId);
    // The approved move is a migration in flight: its VM is not recommended again, nor moved twice.
    expect(fresh.plan.moves.map((m) => m.vmId)).not.toContain(open.plan.moves[0].vmId);
    expect((await migrationsOf('step')).map((m) => m.vmId)).toEqual([open.plan.moves[0].vmId]);
    // The new recommendation is approvable beside that migration.
    await t.http.post(`/api/v1/plans/${fresh.id}/approve`).send({ moves: [0] }).expect(202);
    expect(await migrationsOf('step')).toHaveLength(2);
  });
});

describe('partially automated', () => {
  it('runs the priority-1 moves by itself and recommends the rest', async () => {
    const cluster = hotCluster('pa', { automationLevel: 'partially-automated', holdMinutes: 0 }, [host('pa-h4', { state: 'entering-maintenance' })]);
    cluster.vms.push(vm('pa-leaving', 'pa-h4', { cpuDemandMhz: 500 }));
    await t.http.post('/api/v1/clusters/import').send(cluster).expect(201);
    const result = await evaluate('pa');
    const started = await migrationsOf('pa');
    expect(started.map((m) => m.vmId)).toEqual(['pa-leaving']);
    expect(result.recommended).toBeGreaterThan(0);
    const [open] = await proposed('pa');
    expect(open.plan.moves.length).toBe(result.recommended);
    expect(result.summary).toContain('only priority-1 moves run by themselves');
  });

  it('respects per-VM overrides: a disabled VM never moves, a manual one only when it must', async () => {
    const cluster = hotCluster('ov', { automationLevel: 'fully-automated', holdMinutes: 0 });
    for (const v of cluster.vms) if (v.hostId === 'ov-h1') v.automationLevel = 'disabled';
    await t.http.post('/api/v1/clusters/import').send(cluster).expect(201);
    const result = await evaluate('ov');
    expect(result.started).toBe(0);
    expect(await migrationsOf('ov')).toEqual([]);
  });
});

describe('change windows', () => {
  it('outside the window balancing waits (and the status names the next window); inside it runs', async () => {
    const now = new Date(Date.now() + offsetMs);
    // A window of one hour starting two hours from now (UTC).
    const start = new Date(now.getTime() + 2 * 60 * MIN);
    const hhmm = (d: Date) => d.toISOString().slice(11, 16);
    const day = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][start.getUTCDay()];
    const end = new Date(start.getTime() + 60 * MIN);
    const changeWindows = { timeZone: 'UTC', windows: [{ days: [day as Weekday], start: hhmm(start), end: hhmm(end) }] };
    await t.http.post('/api/v1/clusters/import').send(hotCluster('cw', { automationLevel: 'fully-automated', holdMinutes: 0, changeWindows })).expect(201);
    const outside = await evaluate('cw');
    expect(outside.started).toBe(0);
    expect(outside.summary).toContain('outside the change windows');
    const shown = await status('cw');
    expect(shown.changeWindow.open).toBe(false);
    expect(shown.changeWindow.next.start).toBe(`${start.toISOString().slice(0, 16)}:00.000Z`);
    later(125);
    const inside = await evaluate('cw');
    expect(inside.started).toBeGreaterThan(0);
  });
});
