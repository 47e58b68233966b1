import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { EvaluationService } from '../src/closedloop/evaluation.service.js';
import { ADVISORY_LOCKS } from '../src/database/advisory-locks.js';
import { MetricsCollector } from '../src/metrics/collector.js';
import { host, snapshot, vm, vmsOn } from './support/builders.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/** GET /clusters/:id/status and /imbalance against a cluster computed by hand, and the planning outcomes. */
let t: TestApp;
let db: DataSource;

const small = { cpuCapacityMhz: 10_000, memoryCapacityMb: 10_000 };
// Connected h1 at 90 % CPU and memory (over threshold 3's 85 % line), h2 at 20 % / 10 %; h3 in maintenance.
const hand = snapshot({
  clusterId: 'hand',
  policy: { migrationThreshold: 3, automationLevel: 'manual' },
  hosts: [host('hand-h1', small), host('hand-h2', small), host('hand-h3', { ...small, state: 'maintenance' })],
  vms: [
    vm('hand-a', 'hand-h1', { cpuDemandMhz: 6000, memoryActiveMb: 5000, memoryMb: 6000 }),
    vm('hand-b', 'hand-h1', { cpuDemandMhz: 3000, memoryActiveMb: 4000, memoryMb: 4000 }),
    vm('hand-c', 'hand-h2', { cpuDemandMhz: 2000, memoryActiveMb: 1000, memoryMb: 1000 }),
    vm('hand-d', 'hand-h2', { cpuDemandMhz: 5000, memoryActiveMb: 1000, memoryMb: 1000, powerState: 'off' }),
    vm('hand-e', 'hand-h3', { cpuDemandMhz: 1000, memoryActiveMb: 1000, memoryMb: 1000 }),
  ],
});

beforeAll(async () => {
  // The closed loop is not on a timer (no scheduler role): the tests evaluate when they want.
  t = await createTestApp({ BALANCE_INTERVAL_SECONDS: '300', BALLAST_ROLES: 'api,worker' });
  db = t.app.get<DataSource>(getDataSourceToken());
  await t.http.post('/api/v1/clusters/import').send(hand).expect(201);
});

afterAll(async () => {
  await t?.close();
});

describe('GET /api/v1/clusters/:id/status', () => {
  it('has the figures computed by hand', async () => {
    const { body } = await t.http.get('/api/v1/clusters/hand/status').expect(200);
    // Over h1 and h2: sd(0.9, 0.2) = 0.35 for CPU, sd(0.9, 0.1) = 0.4 for memory, equal weights.
    expect(body.imbalance).toBeCloseTo(0.375, 9);
    expect(body).toMatchObject({ clusterId: 'hand', targetImbalance: 0.08, aboveTarget: true, overloadLine: { cpu: 0.85, memory: 0.85 } });
    expect(body.hosts).toEqual([
      { id: 'hand-h1', state: 'connected', vmCount: 2, cpuDemandMhz: 9000, cpuCapacityMhz: 10_000, memoryActiveMb: 9000, memoryCapacityMb: 10_000, cpuUtilization: 0.9, memoryUtilization: 0.9, overloaded: true },
      { id: 'hand-h2', state: 'connected', vmCount: 2, cpuDemandMhz: 2000, cpuCapacityMhz: 10_000, memoryActiveMb: 1000, memoryCapacityMb: 10_000, cpuUtilization: 0.2, memoryUtilization: 0.1, overloaded: false },
      { id: 'hand-h3', state: 'maintenance', vmCount: 1, cpuDemandMhz: 1000, cpuCapacityMhz: 10_000, memoryActiveMb: 1000, memoryCapacityMb: 10_000, cpuUtilization: 0.1, memoryUtilization: 0.1, overloaded: false },
    ]);
    // Nothing measured yet: every powered-on VM is stale; no planning run yet.
    expect(body.metrics).toMatchObject({ source: 'simulated', lastAttemptAt: null, newestSampleAt: null, poweredOnVms: 4, staleVms: 4, staleVmIds: ['hand-a', 'hand-b', 'hand-c', 'hand-e'] });
    expect(body.planning).toEqual({ intervalSeconds: 300, last: null, nextAt: null });
  });

  it('shows the freshness of the metrics once collected', async () => {
    await t.app.get(MetricsCollector).collect('hand', new Date());
    const { body } = await t.http.get('/api/v1/clusters/hand/status').expect(200);
    expect(body.metrics).toMatchObject({ source: 'simulated', failingSince: null, error: null, poweredOnVms: 4, staleVms: 0, staleVmIds: [] });
    expect(Date.parse(body.metrics.newestSampleAt)).toBe(Date.parse(body.metrics.lastSuccessAt));
  });

  it('is a 404 for an unknown cluster', async () => {
    await t.http.get('/api/v1/clusters/nowhere/status').expect(404);
    await t.http.get('/api/v1/clusters/nowhere/imbalance').expect(404);
  });
});

/** The held advisory lock of planning `clusterId`, as another scheduler holds it; release() lets go. */
async function holdPlanningLock(clusterId: string): Promise<{ release(): Promise<void> }> {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const holding = new Promise<void>((resolve) => (locked = resolve));
  const holder = db.transaction(async (manager) => {
    await manager.query(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, [ADVISORY_LOCKS.plan, clusterId]);
    locked();
    await held;
  });
  await holding;
  return {
    async release() {
      release();
      await holder;
    },
  };
}

describe("the closed loop's last evaluation, in the status and the log", () => {
  const evaluate = (clusterId: string) => t.app.get(EvaluationService).evaluate(clusterId);
  const status = async (clusterId: string) => (await t.http.get(`/api/v1/clusters/${clusterId}/status`).expect(200)).body;
  const logged: string[] = [];

  beforeAll(async () => {
    const log = Logger.prototype.log;
    jest.spyOn(Logger.prototype, 'log').mockImplementation(function (this: Logger, message: unknown, ...rest: unknown[]) {
      logged.push(typeof message === 'object' && message !== null ? String((message as { msg?: unknown }).msg) : String(message));
      return log.call(this, message, ...rest);
    });
    const hot = snapshot({
      clusterId: 'loop-hot',
      policy: { automationLevel: 'manual', holdMinutes: 5 },
      hosts: [host('loop-hot-h1'), host('loop-hot-h2')],
      vms: vmsOn('loop-hot-h1', 9, 'loop-hot-vm', { cpuDemandMhz: 8_000 }),
    });
    const even = snapshot({ clusterId: 'loop-even', hosts: [host('loop-even-h1'), host('loop-even-h2')], vms: [vm('loop-even-a', 'loop-even-h1'), vm('loop-even-b', 'loop-even-h2')] });
    // Above the target (CPU 80 % / 0 %, memory 10 % / 0 %), and busy (above the 70 % balancing line), but its VMs may not move: no move pays.
    const stuck = snapshot({
      clusterId: 'loop-stuck',
      policy: { migrationThreshold: 3, holdMinutes: 0 },
      hosts: [host('loop-stuck-h1', small), host('loop-stuck-h2', small)],
      vms: vmsOn('loop-stuck-h1', 4, 'loop-stuck-vm', { cpuDemandMhz: 2000, memoryActiveMb: 250, memoryMb: 250, automationLevel: 'disabled' }),
    });
    // Above the target (CPU 50 % / 0 %, memory 10 % / 0 %: 0.15), movable, but no host is near its line: balancing would buy no headroom.
    const calm = snapshot({
      clusterId: 'loop-calm',
      policy: { migrationThreshold: 3, holdMinutes: 0, automationLevel: 'fully-automated' },
      hosts: [host('loop-calm-h1', small), host('loop-calm-h2', small)],
      vms: vmsOn('loop-calm-h1', 4, 'loop-calm-vm', { cpuDemandMhz: 1250, memoryActiveMb: 250, memoryMb: 250 }),
    });
    for (const cluster of [hot, even, stuck, calm]) await t.http.post('/api/v1/clusters/import').send(cluster).expect(201);
  });

  afterAll(() => {
    jest.restoreAllMocks();
  });

  it('holding: a detection waits for its hold time; the next evaluation is due when it runs out', async () => {
    const outcome = await evaluate('loop-hot');
    const body = await status('loop-hot');
    expect(body.planning.last).toMatchObject({ outcome: 'holding', reason: outcome.summary, moves: 0, planId: null });
    expect(body.planning.last.reason).toMatch(/overloaded .* waiting for it to hold 5 min/);
    expect(body.planning.last.imbalance).toBeCloseTo(body.imbalance, 9);
    expect(Date.parse(body.planning.last.at)).toBe(Date.parse(body.closedLoop.lastEvaluation.at));
    expect(body.planning.nextAt).toBe(body.closedLoop.nextEvaluationAt);
    expect(Date.parse(body.planning.nextAt) - Date.parse(body.planning.last.at)).toBeLessThanOrEqual(5 * 60_000);
    expect(logged).toContain(`cluster loop-hot: ${outcome.summary}`);
  });

  it('planned: once the detection held, the moves are recommended (a manual cluster) with their plan', async () => {
    await t.http.patch('/api/v1/clusters/loop-hot').send({ policy: { holdMinutes: 0 } }).expect(200);
    const outcome = await evaluate('loop-hot');
    expect(outcome.recommended).toBeGreaterThan(0);
    const { planning } = await status('loop-hot');
    expect(planning.last).toMatchObject({ outcome: 'planned', planId: outcome.planId, moves: outcome.recommended, reason: expect.stringContaining('for an operator to approve') });
    const plan = (await t.http.get(`/api/v1/plans/${outcome.planId}`).expect(200)).body;
    expect(plan).toMatchObject({ status: 'proposed', clusterId: 'loop-hot' });
    expect(logged).toContain(`cluster loop-hot: ${outcome.summary}`);
  });

  it('below the target, and no move that pays for itself', async () => {
    await evaluate('loop-even');
    expect((await status('loop-even')).planning.last).toMatchObject({ outcome: 'below-target', imbalance: 0, moves: 0, reason: expect.stringContaining('nothing to do') });
    expect(logged).toContain('cluster loop-even: no host above its line and the cluster within its imbalance target: nothing to do');
    await evaluate('loop-stuck');
    const stuck = (await status('loop-stuck')).planning.last;
    expect(stuck).toMatchObject({ outcome: 'no-move-pays', moves: 0, reason: expect.stringContaining('but no move pays for itself') });
    expect(stuck.imbalance).toBeGreaterThan(0.15);
    expect(logged.some((line) => line.startsWith('cluster loop-stuck: ') && line.includes('no move pays for itself'))).toBe(true);
  });

  it('imbalanced with every host far below its line: no moves, and the reason says the hosts have headroom', async () => {
    const outcome = await evaluate('loop-calm');
    expect(outcome).toMatchObject({ outcome: 'evaluated', started: 0, recommended: 0 });
    const body = await status('loop-calm');
    expect(body.planning.last).toMatchObject({ outcome: 'ample-headroom', moves: 0, planId: null });
    expect(body.planning.last.imbalance).toBeCloseTo(0.15, 9);
    expect(body.planning.last.reason).toBe(
      'cluster imbalanced (0.150, target 0.08), but no host is above 70 % CPU or 70 % memory: every host has headroom, so balancing waits until one is busier',
    );
    expect(body.closedLoop.detections).toEqual([expect.objectContaining({ kind: 'imbalanced', subject: 'loop-calm', holdLeftSeconds: 0, acting: false })]);
    const [{ n }] = await db.query(`SELECT count(*)::int AS n FROM migrations WHERE cluster_id = 'loop-calm'`);
    expect(n).toBe(0);
  });

  it('another scheduler holds the lock: logged, and the status keeps what that one decides', async () => {
    const before = (await status('loop-even')).planning.last;
    const lock = await holdPlanningLock('loop-even');
    try {
      expect(await evaluate('loop-even')).toMatchObject({ outcome: 'locked' });
    } finally {
      await lock.release();
    }
    expect(logged).toContain('cluster loop-even: another scheduler is evaluating the cluster');
    expect((await status('loop-even')).planning.last).toEqual(before);
  });
});

describe('GET /api/v1/clusters/:id/imbalance', () => {
  it("is the imbalance per step from the hosts' samples", async () => {
    await db.query(`DELETE FROM metric_samples`);
    const base = Date.now() - 10 * 60_000;
    const at = (minutes: number) => new Date(base + minutes * 60_000).toISOString();
    const samples = [
      // Step 1: h1 at 80 % / 60 %, h2 at 20 % / 20 % (two samples averaged: 10 % and 30 % CPU).
      { hostId: 'hand-h1', at: at(0), cpuMhz: 8000, memoryMb: 6000 },
      { hostId: 'hand-h2', at: at(0), cpuMhz: 1000, memoryMb: 2000 },
      { hostId: 'hand-h2', at: at(1), cpuMhz: 3000, memoryMb: 2000 },
      // Step 2: both at 50 % / 50 %. h3 is in maintenance: left out.
      { hostId: 'hand-h1', at: at(5), cpuMhz: 5000, memoryMb: 5000 },
      { hostId: 'hand-h2', at: at(5), cpuMhz: 5000, memoryMb: 5000 },
      { hostId: 'hand-h3', at: at(5), cpuMhz: 9000, memoryMb: 9000 },
    ];
    await t.http.post('/api/v1/metrics').send({ samples }).expect(202);
    const { body } = await t.http.get(`/api/v1/clusters/hand/imbalance?from=${at(0)}&to=${at(10)}&step=5m`).expect(200);
    expect(body).toMatchObject({ clusterId: 'hand', stepSeconds: 300 });
    expect(body.points).toEqual([
      { at: at(0), imbalance: expect.closeTo((0.3 + 0.2) / 2, 6), hosts: 2, hottestCpuUtilization: expect.closeTo(0.8, 9) },
      { at: at(5), imbalance: 0, hosts: 2, hottestCpuUtilization: expect.closeTo(0.5, 9) },
    ]);
    await t.http.get('/api/v1/clusters/hand/imbalance?step=-1').expect(400);
  });
});
