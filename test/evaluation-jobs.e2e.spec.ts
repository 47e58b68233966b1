import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { EvaluationScheduler } from '../src/closedloop/evaluation-scheduler.js';
import { host, snapshot, vm, vmsOn } from './support/builders.js';
import { startService, type ServiceProcess } from './support/run-node.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

/**
 * Evaluation jobs shared by two scheduler processes (this one and a service process of its own),
 * on one queue: every cluster is evaluated, once per due time, and no VM is moved twice.
 */
const CLUSTERS = 24;
let t: TestApp;
let other: ServiceProcess | null = null;
let db: DataSource;

beforeAll(async () => {
  // No worker anywhere: the migrations the evaluations start stay pending, so they can be counted.
  t = await createTestApp({ BALLAST_ROLES: 'api', BALANCE_INTERVAL_SECONDS: '300' });
  db = t.app.get(DataSource);
  for (let c = 0; c < CLUSTERS; c++) {
    const id = `c${c}`;
    const cluster = snapshot({
      clusterId: id,
      hosts: [host(`${id}-h1`), host(`${id}-h2`), host(`${id}-h3`)],
      vms: [...vmsOn(`${id}-h1`, 10, `${id}-v`, { cpuDemandMhz: 8_000, memoryActiveMb: 2_000 }), vm(`${id}-w`, `${id}-h2`)],
      policy: { migrationThreshold: 3, resourceWeights: { cpu: 1, memory: 0 }, holdMinutes: 0, automationLevel: 'fully-automated' },
    });
    await t.http.post('/api/v1/clusters/import').send(cluster).expect(201);
  }
}, 120_000);

afterAll(async () => {
  await other?.stop();
  await t?.close();
});

describe('evaluation jobs with two scheduler processes', () => {
  it('evaluate every cluster once per due time, one plan each, no VM moved twice', async () => {
    other = await startService({ ...t.env, BALLAST_ROLES: 'scheduler', BALANCE_INTERVAL_SECONDS: '300', METRICS_INTERVAL_SECONDS: '0' }, /roles scheduler/);
    // This process's scheduler too: its worker on the same queue, and the due clusters enqueued here as well.
    const here = t.app.get(EvaluationScheduler);
    here.startWorker(2);
    await here.enqueueDue();
    const rows = await waitFor(async () => {
      const r: { cluster_id: string; next_at: Date; moves_started: number }[] = await db.query(`SELECT cluster_id, next_at, moves_started FROM cluster_evaluations`);
      return r.length === CLUSTERS ? r : null;
    }, 60_000, 'every cluster evaluated');
    // Put them all on the queue again from both sides: nothing is due, nothing more happens.
    await here.enqueueDue();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const plans: { cluster_id: string; n: number }[] = await db.query(`SELECT cluster_id, count(*)::int AS n FROM plans WHERE source = 'scheduler' GROUP BY cluster_id`);
    expect(plans).toHaveLength(CLUSTERS);
    expect(plans.every((p) => p.n === 1)).toBe(true);
    const twice: unknown[] = await db.query(`SELECT vm_id FROM migrations GROUP BY vm_id HAVING count(*) > 1`);
    expect(twice).toEqual([]);
    const [{ n }] = await db.query(`SELECT count(*)::int AS n FROM migrations`);
    // Every migration belongs to the one plan of its cluster (a later look that found nothing to do starts nothing).
    const [{ m }] = await db.query(`SELECT coalesce(sum(jsonb_array_length(moves)), 0)::int AS m FROM plans WHERE source = 'scheduler' AND status = 'approved'`);
    expect(n).toBe(m);
    expect(n).toBeGreaterThanOrEqual(CLUSTERS);
    // Both processes took evaluations from the queue (each logs the clusters where it started migrations).
    const byOther = new Set([...other!.output().matchAll(/cluster (c\d+): /g)].map((m) => m[1]));
    expect(byOther.size).toBeGreaterThan(0);
    expect(byOther.size).toBeLessThanOrEqual(CLUSTERS);
    // The next evaluation is due one interval later.
    for (const r of rows) expect(new Date(r.next_at).getTime()).toBeGreaterThan(Date.now() + 250_000);
  }, 120_000);
});
