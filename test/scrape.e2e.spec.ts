import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { referenceImbalance } from '../src/planner/imbalance.js';
import type { Snapshot } from '../src/planner/snapshot.js';
import { CollectionsRepository } from '../src/metrics/collections.repository.js';
import { MetricsPort } from '../src/prometheus/metrics-port.js';
import { EvaluationService } from '../src/closedloop/evaluation.service.js';
import { host, snapshot, vmsOn } from './support/builders.js';
import { testCluster } from './support/clusters.js';
import { only, parsePrometheusText, valueOf } from './support/prometheus-text.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ SIM_TIME_SCALE: '0.001', SIM_FAULTS: 'vm:m-vm002', METRICS_PORT: '0', METRICS_INTERVAL_SECONDS: '0' });
  // Two hot hosts, two empty ones, one of them in quarantine.
  const cluster = testCluster('m', { vmsPerHost: [40, 8, 0, 0] });
  cluster.hosts[3].state = 'quarantine';
  await t.http.post('/api/v1/clusters/import').send(cluster).expect(201);
  await t.http.post('/api/v1/clusters/import').send(testCluster('calm', { vmsPerHost: [2, 2] })).expect(201);
});

afterAll(async () => {
  await t?.close();
});

async function scrape() {
  const res = await t.http.get('/metrics').expect(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(res.text);
}

describe('GET /metrics', () => {
  it('has each cluster\'s imbalance (as the planner computes it) and its target', async () => {
    const { samples, types } = await scrape();
    const snapshot: Snapshot = (await t.http.get('/api/v1/clusters/m/snapshot').expect(200)).body;
    expect(types.get('ballast_cluster_imbalance')).toBe('gauge');
    expect(valueOf(samples, 'ballast_cluster_imbalance', { cluster: 'm' })).toBeCloseTo(referenceImbalance(snapshot), 9);
    expect(valueOf(samples, 'ballast_cluster_imbalance', { cluster: 'm' })).toBeGreaterThan(0.01);
    expect(valueOf(samples, 'ballast_cluster_imbalance', { cluster: 'calm' })).toBeCloseTo(0, 9);
    // testCluster's threshold is 3: target 0.08.
    expect(valueOf(samples, 'ballast_cluster_target_imbalance', { cluster: 'm' })).toBe(0.08);
  });

  it('counts hosts by state and gives each host its utilization', async () => {
    const { samples } = await scrape();
    expect(valueOf(samples, 'ballast_hosts', { cluster: 'm', state: 'connected' })).toBe(3);
    expect(valueOf(samples, 'ballast_hosts', { cluster: 'm', state: 'quarantine' })).toBe(1);
    // 12 VMs x 1000 MHz on 100,000 MHz; 12 x 2048 MB active on 1 TB.
    expect(valueOf(samples, 'ballast_host_cpu_utilization', { host: 'm-h1' })).toBeCloseTo(0.4, 9);
    expect(valueOf(samples, 'ballast_host_memory_utilization', { host: 'm-h1' })).toBeCloseTo((40 * 2048) / 1048576, 9);
    expect(valueOf(samples, 'ballast_host_vms', { host: 'm-h2' })).toBe(8);
    expect(valueOf(samples, 'ballast_host_cpu_utilization', { host: 'm-h3' })).toBe(0);
  });

  it('has the process\'s own figures', async () => {
    const { samples, types } = await scrape();
    expect(types.get('process_cpu_user_seconds_total')).toBe('counter');
    expect(valueOf(samples, 'process_resident_memory_bytes')).toBeGreaterThan(1e6);
    expect(valueOf(samples, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(1e6);
  });

  it('counts migrations by state and reason, with duration, downtime and planner histograms from what was recorded', async () => {
    const plan = await t.http.post('/api/v1/clusters/m/plans').send({ threshold: 5 }).expect(201);
    const approval = await t.http.post(`/api/v1/plans/${plan.body.id}/approve`).send({}).expect(202);
    const ids: string[] = approval.body.migrationIds;
    expect(ids.length).toBeGreaterThan(1);
    const ended = await waitFor(async () => {
      const list = (await t.http.get('/api/v1/migrations?clusterId=m&limit=1000').expect(200)).body.items as { state: string; reason: string; result: { totalTimeMs: number; downtimeMs: number } | null }[];
      return list.every((m) => ['succeeded', 'failed', 'cancelled'].includes(m.state)) ? list : null;
    }, 60000, 'the plan\'s migrations to end');
    const succeeded = ended.filter((m) => m.state === 'succeeded');
    const failed = ended.filter((m) => m.state === 'failed');
    const { samples, types } = await scrape();

    const byState = (state: string) => only(samples, 'ballast_migrations', { cluster: 'm', state }).reduce((sum, s) => sum + s.value, 0);
    expect(byState('succeeded')).toBe(succeeded.length);
    expect(byState('failed')).toBe(failed.length);
    const reasons = new Set(only(samples, 'ballast_migrations', { cluster: 'm' }).map((s) => s.labels.reason));
    expect([...reasons].sort()).toEqual([...new Set(ended.map((m) => m.reason))].sort());

    expect(types.get('ballast_migration_duration_seconds')).toBe('histogram');
    expect(valueOf(samples, 'ballast_migration_duration_seconds_count', { kind: 'compute' })).toBe(succeeded.length);
    expect(valueOf(samples, 'ballast_migration_duration_seconds_bucket', { kind: 'compute', le: '+Inf' })).toBe(succeeded.length);
    const totalSeconds = succeeded.reduce((sum, m) => sum + m.result!.totalTimeMs / 1000, 0);
    expect(valueOf(samples, 'ballast_migration_duration_seconds_sum', { kind: 'compute' })).toBeCloseTo(totalSeconds, 6);
    const within1s = succeeded.filter((m) => m.result!.totalTimeMs / 1000 <= 1).length;
    expect(valueOf(samples, 'ballast_migration_duration_seconds_bucket', { kind: 'compute', le: '1' })).toBe(within1s);
    const downtimeBuckets = only(samples, 'ballast_migration_downtime_seconds_bucket', { kind: 'compute' }).map((s) => s.value);
    expect(downtimeBuckets).toEqual([...downtimeBuckets].sort((a, b) => a - b));
    expect(valueOf(samples, 'ballast_migration_downtime_seconds_count', { kind: 'compute' })).toBe(succeeded.length);
    const downtimeMs = succeeded.reduce((sum, m) => sum + m.result!.downtimeMs, 0);
    expect(valueOf(samples, 'ballast_migration_downtime_seconds_sum', { kind: 'compute' }) * 1000).toBeCloseTo(downtimeMs, 3);

    const predicted = ended.filter((m) => m.state === 'succeeded' && (m as { prediction?: { totalTimeMs?: number } }).prediction?.totalTimeMs);
    expect(predicted.length).toBe(succeeded.length);
    expect(valueOf(samples, 'ballast_migration_duration_prediction_ratio_count', { kind: 'compute' })).toBe(predicted.length);
    const ratios = predicted.map((m) => m.result!.totalTimeMs / (m as unknown as { prediction: { totalTimeMs: number } }).prediction.totalTimeMs);
    expect(valueOf(samples, 'ballast_migration_duration_prediction_ratio_sum', { kind: 'compute' })).toBeCloseTo(ratios.reduce((a, b) => a + b, 0), 6);

    expect(valueOf(samples, 'ballast_planner_duration_seconds_count', { source: 'operator' })).toBe(1);
    expect(valueOf(samples, 'ballast_planner_duration_seconds_sum', { source: 'operator' })).toBeGreaterThan(0);

    expect(valueOf(samples, 'ballast_queue_oldest_job_age_seconds')).toBe(0);
    expect(only(samples, 'ballast_queue_jobs').map((s) => s.labels.state).sort()).toEqual(['active', 'delayed', 'prioritized', 'waiting']);
  });

  it('has the collector\'s lag and source errors, the evaluation\'s lag and the open detections', async () => {
    const failedAt = new Date(Date.now() - 60_000);
    await t.app.get(CollectionsRepository).record(t.app.get(DataSource).manager, { clusterId: 'calm', source: 'push', at: failedAt, error: 'no samples', samples: 0 });
    const hot = snapshot({
      clusterId: 'hot',
      hosts: [host('hot-h1'), host('hot-h2')],
      vms: vmsOn('hot-h1', 9, 'hot-vm', { cpuDemandMhz: 8_000 }),
      policy: { automationLevel: 'manual', holdMinutes: 5 },
    });
    await t.http.post('/api/v1/clusters/import').send(hot).expect(201);
    await t.app.get(EvaluationService).evaluate('hot');
    const { samples } = await scrape();
    expect(valueOf(samples, 'ballast_collector_source_failing', { cluster: 'calm', source: 'push' })).toBe(1);
    expect(valueOf(samples, 'ballast_collector_source_failing_seconds', { cluster: 'calm' })).toBeGreaterThanOrEqual(59);
    expect(valueOf(samples, 'ballast_collector_lag_seconds', { cluster: 'calm' })).toBeGreaterThanOrEqual(59);
    const status = (await t.http.get('/api/v1/clusters/hot/status').expect(200)).body;
    const overloaded = status.closedLoop.detections.filter((d: { kind: string }) => d.kind === 'overloaded').length;
    expect(overloaded).toBeGreaterThan(0);
    expect(valueOf(samples, 'ballast_open_detections', { cluster: 'hot', kind: 'overloaded' })).toBe(overloaded);
    expect(valueOf(samples, 'ballast_evaluation_lag_seconds', { cluster: 'hot' })).toBeGreaterThanOrEqual(0);
    expect(valueOf(samples, 'ballast_evaluation_lag_seconds', { cluster: 'hot' })).toBeLessThan(3600);
  });

  it('is served without a key on METRICS_PORT, on loopback only', async () => {
    const port = t.app.get(MetricsPort).port();
    expect(port).toBeGreaterThan(0);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    const { samples } = parsePrometheusText(await res.text());
    expect(valueOf(samples, 'ballast_hosts', { cluster: 'calm', state: 'connected' })).toBe(2);
    expect((await fetch(`http://127.0.0.1:${port}/api/v1/clusters`)).status).toBe(404);
  });
});

describe('GET /metrics: the queue', () => {
  let api: TestApp;

  beforeAll(async () => {
    // No worker takes the jobs: the approved migrations wait in the queue.
    api = await createTestApp({ BALLAST_ROLES: 'api', METRICS_INTERVAL_SECONDS: '0' });
    await api.http.post('/api/v1/clusters/import').send(testCluster('q', { vmsPerHost: [20, 0] })).expect(201);
  });

  afterAll(async () => {
    await api?.close();
  });

  it('counts the jobs waiting and how long the oldest queued migration has waited', async () => {
    const plan = await api.http.post('/api/v1/clusters/q/plans').send({ threshold: 5 }).expect(201);
    await api.http.post(`/api/v1/plans/${plan.body.id}/approve`).send({}).expect(202);
    const queued = await waitFor(async () => {
      const page = (await api.http.get('/api/v1/migrations?clusterId=q&state=queued&limit=1000').expect(200)).body;
      return page.total > 0 ? page.total : null;
    }, 30000, 'queued migrations');
    const queuedSince = Date.now();
    // Long enough for the oldest to have waited a whole second by the scrape.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const { samples } = parsePrometheusText((await api.http.get('/metrics').expect(200)).text);
    const jobs = (state: string) => valueOf(samples, 'ballast_queue_jobs', { state });
    expect(jobs('waiting') + jobs('prioritized')).toBe(queued);
    expect(jobs('active')).toBe(0);
    const age = valueOf(samples, 'ballast_queue_oldest_job_age_seconds');
    expect(age).toBeGreaterThanOrEqual(1);
    expect(age).toBeLessThan((Date.now() - queuedSince) / 1000 + 30);
  });
});
