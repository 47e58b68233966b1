import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { MetricsCollector } from '../src/metrics/collector.js';
import { LIMITS } from '../src/planner/limits.js';
import { host, snapshot, vm } from './support/builders.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/** The push source: POST /api/v1/metrics, all or nothing; and the series endpoints on what it stored. */
let t: TestApp;
let db: DataSource;
const NOW = Date.now();
const iso = (msAgo: number) => new Date(NOW - msAgo).toISOString();

const cluster = snapshot({
  clusterId: 'agents',
  hosts: [host('ag-h1'), host('ag-h2')],
  vms: [vm('ag-v1', 'ag-h1', { cpuDemandMhz: 1000, memoryActiveMb: 1000 }), vm('ag-v2', 'ag-h2'), vm('ag-v3', 'ag-h2')],
});

async function storedSamples(): Promise<number> {
  const [{ count }] = await db.query(`SELECT count(*)::int AS count FROM metric_samples`);
  return count;
}

beforeAll(async () => {
  t = await createTestApp({ METRICS_RETENTION_DAYS: '7', METRICS_INTERVAL_SECONDS: '0' });
  db = t.app.get<DataSource>(getDataSourceToken());
  await t.http.post('/api/v1/clusters/import').send(cluster).expect(201);
  await t.http.patch('/api/v1/clusters/agents').send({ metricsSource: 'push' }).expect(200);
});

afterAll(async () => {
  await t?.close();
});

describe('POST /api/v1/metrics', () => {
  it('stores a batch of VM and host samples and answers 202 with the count', async () => {
    const samples = [];
    // Ten minutes of ag-v1 every 20 s at 2000 MHz, 3000 MB, with one spike; ag-h1 alongside.
    for (let k = 29; k >= 0; k--) {
      samples.push({ vmId: 'ag-v1', at: iso(k * 20_000), cpuMhz: k === 3 ? 20_000 : 2000, memoryMb: 3000 });
      samples.push({ hostId: 'ag-h1', at: iso(k * 20_000), cpuMhz: 40_000, memoryMb: 100_000 });
    }
    const response = await t.http.post('/api/v1/metrics').send({ samples }).expect(202);
    expect(response.body).toEqual({ accepted: 60 });
    expect(await storedSamples()).toBe(60);
  });

  it('refuses a batch with unknown ids and bad fields, naming every one, and stores nothing', async () => {
    const before = await storedSamples();
    const response = await t.http
      .post('/api/v1/metrics')
      .send({
        samples: [
          { vmId: 'ag-v2', at: iso(0), cpuMhz: 100, memoryMb: 100 },
          { vmId: 'ghost-1', at: iso(0), cpuMhz: 100, memoryMb: 100 },
          { hostId: 'ghost-host', at: iso(0), cpuMhz: 100, memoryMb: 100 },
          { vmId: 'ag-v1', at: 'yesterday', cpuMhz: -5, memoryMb: 'lots' },
          { vmId: 'ag-v1', hostId: 'ag-h1', at: iso(0), cpuMhz: 1, memoryMb: 1, colour: 'red' },
          { vmId: 'ag-v1', at: iso(8 * 86_400_000), cpuMhz: 1, memoryMb: 1 },
          { vmId: 'ag-v1', at: iso(-3_600_000), cpuMhz: 1, memoryMb: 1 },
        ],
      })
      .expect(400);
    expect(response.body.errors).toEqual([
      { field: 'body.samples[1].vmId', reason: 'there is no VM "ghost-1"' },
      { field: 'body.samples[2].hostId', reason: 'there is no host "ghost-host"' },
      { field: 'body.samples[3].at', reason: 'must be an ISO-8601 time with its zone, got "yesterday"' },
      { field: 'body.samples[3].cpuMhz', reason: `must be a number between 0 and ${LIMITS.cpuMhz}, got -5` },
      { field: 'body.samples[3].memoryMb', reason: `must be a number between 0 and ${LIMITS.memoryMb}, got "lots"` },
      { field: 'body.samples[4].colour', reason: expect.stringContaining('unknown field') },
      { field: 'body.samples[4]', reason: 'must name exactly one of vmId and hostId' },
      { field: 'body.samples[5].at', reason: expect.stringContaining('older than the retention') },
      { field: 'body.samples[6].at', reason: expect.stringContaining('in the future') },
    ]);
    expect(await storedSamples()).toBe(before);
    // ag-v2 was never measured, and a refused batch does not start measuring it.
    const [{ count }] = await db.query(`SELECT count(*)::int AS count FROM metric_series WHERE vm_id = 'ag-v2'`);
    expect(count).toBe(0);
  });

  it.each([
    [[], 'body', 'must be an object'],
    [{ samples: [] }, 'body.samples', 'must be a non-empty array of samples'],
    [{ samples: [{ vmId: 'ag-v1', at: iso(0), cpuMhz: 1, memoryMb: 1 }], extra: 1 }, 'body.extra', 'unknown field (allowed: samples)'],
  ])('refuses the body %j', async (body, field, reason) => {
    const response = await t.http.post('/api/v1/metrics').send(body).expect(400);
    expect(response.body.errors).toEqual([{ field, reason: expect.stringContaining(reason) }]);
  });

  it('the collector smooths what was pushed into the inventory: the spike moves nothing', async () => {
    const outcome = await t.app.get(MetricsCollector).collect('agents', new Date(NOW));
    expect(outcome).toMatchObject({ outcome: 'collected', source: 'push', samples: 0, smoothedVms: 1 });
    const v1 = (await t.http.get('/api/v1/vms/ag-v1').expect(200)).body;
    // 0.75 x median(15 samples of 2000, one of them the spike) + 0.25 x mean(30 samples, one at 20000).
    expect(v1.cpuDemandMhz).toBeCloseTo(0.75 * 2000 + 0.25 * ((29 * 2000 + 20_000) / 30), 3);
    expect(v1.memoryActiveMb).toBeCloseTo(3000, 3);
    // Not measured, not touched.
    expect((await t.http.get('/api/v1/vms/ag-v2').expect(200)).body.cpuDemandMhz).toBe(2000);
  });

  it('stores the batches of measured VMs and hosts in one statement, and still refuses a deleted VM and odd unknown ids', async () => {
    const batch = (at: string, cpuContention?: number) => ({
      samples: [
        { vmId: 'ag-v3', at, cpuMhz: 500, memoryMb: 600, ...(cpuContention === undefined ? {} : { cpuContention }) },
        { hostId: 'ag-h2', at, cpuMhz: 9000, memoryMb: 9100 },
      ],
    });
    // The first batch gives ag-v3 and ag-h2 their series; the second (with a contention) finds them.
    expect((await t.http.post('/api/v1/metrics').send(batch(iso(40_000))).expect(202)).body).toEqual({ accepted: 2 });
    expect((await t.http.post('/api/v1/metrics').send(batch(iso(20_000), 0.25)).expect(202)).body).toEqual({ accepted: 2 });
    const stored = await db.query(
      `SELECT coalesce(m.vm_id, m.host_id) AS subject, s.cpu_mhz AS cpu, s.memory_mb AS memory, s.cpu_contention AS contention
       FROM metric_samples s JOIN metric_series m ON m.id = s.series_id WHERE m.vm_id = 'ag-v3' OR m.host_id = 'ag-h2' ORDER BY s.at, 1`,
    );
    expect(stored).toEqual([
      { subject: 'ag-h2', cpu: 9000, memory: 9100, contention: null },
      { subject: 'ag-v3', cpu: 500, memory: 600, contention: null },
      { subject: 'ag-h2', cpu: 9000, memory: 9100, contention: null },
      { subject: 'ag-v3', cpu: 500, memory: 600, contention: 0.25 },
    ]);
    const before = await storedSamples();
    await t.http.delete('/api/v1/vms/ag-v3').expect(204);
    const refused = await t.http.post('/api/v1/metrics').send(batch(iso(0))).expect(400);
    expect(refused.body.errors).toEqual([{ field: 'body.samples[0].vmId', reason: 'there is no VM "ag-v3"' }]);
    // Ids that PostgreSQL's array syntax would misread are unknown ids like any other.
    const odd = ['a"b', 'c\\d', 'e,f', '{g}', 'NULL', ' h '];
    const response = await t.http
      .post('/api/v1/metrics')
      .send({ samples: odd.map((id) => ({ vmId: id, at: iso(0), cpuMhz: 1, memoryMb: 1 })) })
      .expect(400);
    expect(response.body.errors).toEqual(odd.map((id, i) => ({ field: `body.samples[${i}].vmId`, reason: `there is no VM "${id}"` })));
    expect(await storedSamples()).toBe(before);
  });
});

describe('GET /api/v1/vms/:id/metrics and /hosts/:id/metrics', () => {
  it('answers the average and maximum per step', async () => {
    const from = iso(590_000);
    const response = await t.http.get(`/api/v1/vms/ag-v1/metrics?from=${from}&to=${iso(-10_000)}&step=5m`).expect(200);
    expect(response.body).toMatchObject({ vmId: 'ag-v1', stepSeconds: 300, stale: false, lastSampleAt: iso(0) });
    // Samples at 580..0 s ago; steps [590, 290) and [290, -10) s ago: 15 each, the spike (60 s ago) in the second.
    expect(response.body.points).toEqual([
      { at: from, samples: 15, cpuMhz: { avg: 2000, max: 2000 }, memoryMb: { avg: 3000, max: 3000 } },
      { at: iso(290_000), samples: 15, cpuMhz: { avg: (14 * 2000 + 20_000) / 15, max: 20_000 }, memoryMb: { avg: 3000, max: 3000 } },
    ].map((p) => ({ ...p, cpuMhz: { avg: expect.closeTo(p.cpuMhz.avg, 3), max: p.cpuMhz.max } })));
    const hostSeries = await t.http.get(`/api/v1/hosts/ag-h1/metrics?from=${from}&to=${iso(-10_000)}&step=600`).expect(200);
    expect(hostSeries.body.points).toEqual([{ at: from, samples: 30, cpuMhz: { avg: 40_000, max: 40_000 }, memoryMb: { avg: 100_000, max: 100_000 } }]);
  });

  it('a VM never measured has no points and is stale', async () => {
    const response = await t.http.get('/api/v1/vms/ag-v2/metrics').expect(200);
    expect(response.body).toMatchObject({ vmId: 'ag-v2', lastSampleAt: null, stale: true, points: [] });
  });

  it.each([
    ['from=2026-12-02T12:00:00Z&to=2026-12-02T11:00:00Z', 'query.from', 'must be before to'],
    ['from=noon', 'query.from', 'must be an ISO-8601 time'],
    ['to=2026-13-45T00:00:00Z', 'query.to', 'must be an ISO-8601 time'],
    ['step=0', 'query.step', 'must be a whole number of seconds from 1 to 31622400'],
    ['step=fast', 'query.step', 'must be a whole number of seconds from 1 to 31622400'],
    ['step=9007199254740993', 'query.step', 'must be a whole number of seconds from 1 to 31622400'],
    ['step=367d', 'query.step', 'must be a whole number of seconds from 1 to 31622400'],
    ['from=2026-01-01T00:00:00Z&to=2026-12-01T00:00:00Z&step=1', 'query.step', 'at most 10000'],
  ])('refuses ?%s with a 400', async (query, field, reason) => {
    const response = await t.http.get(`/api/v1/vms/ag-v1/metrics?${query}`).expect(400);
    expect(response.body.errors).toEqual([{ field, reason: expect.stringContaining(reason) }]);
  });

  it('an unknown VM or host is a 404', async () => {
    await t.http.get('/api/v1/vms/nobody/metrics').expect(404);
    await t.http.get('/api/v1/hosts/nowhere/metrics').expect(404);
  });
});
