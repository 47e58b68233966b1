import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { MetricsCollector } from '../src/metrics/collector.js';
import { SamplesRepository } from '../src/metrics/samples.repository.js';
import { host, snapshot, vm } from './support/builders.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

/** Downsampling and retention of the samples: in bulk, by day partitions, without stopping writers. */
let t: TestApp;
let db: DataSource;
let samples: SamplesRepository;
const DAY = 86_400_000;
const TODAY = Math.floor(Date.now() / DAY) * DAY;
let vmSeries: number;

async function partitions(table: string): Promise<string[]> {
  const rows: { name: string }[] = await db.query(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass ORDER BY 1`,
    [table],
  );
  return rows.map((r) => r.name);
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const dayName = (table: string, ms: number) => `${table}_${day(ms).replace(/-/g, '')}`;

beforeAll(async () => {
  t = await createTestApp({ METRICS_RETENTION_DAYS: '10' });
  db = t.app.get<DataSource>(getDataSourceToken());
  samples = t.app.get(SamplesRepository);
  await t.http.post('/api/v1/clusters/import').send(snapshot({ clusterId: 'keep', hosts: [host('keep-h1')], vms: [vm('keep-v1', 'keep-h1')] })).expect(201);
  const [{ id }] = await db.query(`INSERT INTO metric_series (vm_id, baseline_cpu_mhz, baseline_memory_mb) VALUES ('keep-v1', 2000, 8000) RETURNING id`);
  vmSeries = id;
  // Three days ago: one sample a minute for the first hour, CPU k*10 and memory 1000 + k; today and yesterday a few.
  const rows = [];
  for (let k = 0; k < 60; k++) rows.push({ seriesId: vmSeries, at: TODAY - 3 * DAY + k * 60_000, cpuMhz: k * 10, memoryMb: 1000 + k });
  rows.push({ seriesId: vmSeries, at: TODAY - DAY + 3_600_000, cpuMhz: 777, memoryMb: 777 });
  rows.push({ seriesId: vmSeries, at: Date.now() - 60_000, cpuMhz: 555, memoryMb: 555 });
  await samples.insert(rows);
  // 5-minute rows from twelve days ago: past the retention.
  await samples.ensureDay('metric_samples_5m', TODAY - 12 * DAY);
  await db.query(`INSERT INTO metric_samples_5m (bucket, series_id, samples, cpu_avg, cpu_max, memory_avg, memory_max) VALUES ($1, $2, 15, 1, 2, 3, 4)`, [
    new Date(TODAY - 12 * DAY),
    vmSeries,
  ]);
});

afterAll(async () => {
  await t?.close();
});

describe('the rollup pass', () => {
  it('folds raw days older than a day into 5-minute averages and maxima, and drops days past the retention', async () => {
    expect(await partitions('metric_samples')).toEqual([TODAY - 3 * DAY, TODAY - DAY, TODAY].map((d) => dayName('metric_samples', d)));
    const result = await t.app.get(MetricsCollector).rollup(new Date());
    expect(result).toEqual({ downsampledDays: [day(TODAY - 3 * DAY)], droppedDays: [day(TODAY - 12 * DAY)] });
    // Yesterday's raw day is kept: it ended less than a day ago.
    expect(await partitions('metric_samples')).toEqual([TODAY - DAY, TODAY].map((d) => dayName('metric_samples', d)));
    expect(await partitions('metric_samples_5m')).toEqual([dayName('metric_samples_5m', TODAY - 3 * DAY)]);
    const buckets: { bucket: Date; samples: number; cpu_avg: number; cpu_max: number; memory_avg: number; memory_max: number }[] = await db.query(
      `SELECT bucket, samples, cpu_avg, cpu_max, memory_avg, memory_max FROM metric_samples_5m ORDER BY bucket`,
    );
    expect(buckets).toHaveLength(12);
    // Bucket j holds minutes 5j..5j+4: CPU 50j..50j+40, average 50j+20.
    expect(buckets[2]).toEqual({ bucket: new Date(TODAY - 3 * DAY + 10 * 60_000), samples: 5, cpu_avg: 120, cpu_max: 140, memory_avg: 1012, memory_max: 1014 });
    const [{ until }] = await db.query(`SELECT downsampled_until AS until FROM metrics_rollup`);
    expect(until.getTime()).toBe(TODAY - 2 * DAY);
    // Nothing more to do a second time.
    expect(await t.app.get(MetricsCollector).rollup(new Date())).toEqual({ downsampledDays: [], droppedDays: [] });
  });

  it('series read the 5-minute rows for downsampled days and raw samples after', async () => {
    const from = new Date(TODAY - 3 * DAY).toISOString();
    const to = new Date(Date.now() + 1000).toISOString();
    const { body } = await t.http.get(`/api/v1/vms/keep-v1/metrics?from=${from}&to=${to}&step=1d`).expect(200);
    expect(body.points).toEqual([
      { at: from, samples: 60, cpuMhz: { avg: expect.closeTo(295, 3), max: 590 }, memoryMb: { avg: expect.closeTo(1029.5, 3), max: 1059 } },
      { at: new Date(TODAY - DAY).toISOString(), samples: 1, cpuMhz: { avg: 777, max: 777 }, memoryMb: { avg: 777, max: 777 } },
      { at: new Date(TODAY).toISOString(), samples: 1, cpuMhz: { avg: 555, max: 555 }, memoryMb: { avg: 555, max: 555 } },
    ]);
  });

  it('a range entirely before the downsampled time reads the 5-minute rows alone', async () => {
    const from = new Date(TODAY - 3 * DAY).toISOString();
    const to = new Date(TODAY - 3 * DAY + 3_600_000).toISOString();
    const { body } = await t.http.get(`/api/v1/vms/keep-v1/metrics?from=${from}&to=${to}&step=30m`).expect(200);
    expect(body.points).toEqual([
      { at: from, samples: 30, cpuMhz: { avg: expect.closeTo(145, 3), max: 290 }, memoryMb: { avg: expect.closeTo(1014.5, 3), max: 1029 } },
      { at: new Date(TODAY - 3 * DAY + 1_800_000).toISOString(), samples: 30, cpuMhz: { avg: expect.closeTo(445, 3), max: 590 }, memoryMb: { avg: expect.closeTo(1044.5, 3), max: 1059 } },
    ]);
  });

  it('a late sample for a folded day is merged into its 5-minute row by the next pass', async () => {
    await t.http
      .post('/api/v1/metrics')
      .send({ samples: [{ vmId: 'keep-v1', at: new Date(TODAY - 3 * DAY + 11 * 60_000).toISOString(), cpuMhz: 1000, memoryMb: 1000 }] })
      .expect(202);
    await t.app.get(MetricsCollector).rollup(new Date());
    const [row] = await db.query(`SELECT samples, cpu_avg, cpu_max FROM metric_samples_5m WHERE bucket = $1`, [new Date(TODAY - 3 * DAY + 10 * 60_000)]);
    expect(row).toEqual({ samples: 6, cpu_avg: expect.closeTo((120 * 5 + 1000) / 6, 3), cpu_max: 1000 });
  });

  it('does not stop writers: samples go in while a pass waits to detach a day', async () => {
    await samples.insert([{ seriesId: vmSeries, at: TODAY - 4 * DAY, cpuMhz: 1, memoryMb: 1 }]);
    // A reader of the old day holds its snapshot: the concurrent detach must wait for it.
    const reader = db.createQueryRunner();
    await reader.connect();
    await reader.startTransaction('REPEATABLE READ');
    await reader.query(`SELECT count(*) FROM metric_samples WHERE at < $1`, [new Date(TODAY - 3 * DAY)]);
    const pass = t.app.get(MetricsCollector).rollup(new Date());
    try {
      const writer = db.createQueryRunner();
      await writer.connect();
      try {
        // Writers give up after 2 s of waiting for a lock: they must not need to.
        await writer.query(`SET lock_timeout = '2s'`);
        await waitFor(async () => {
          const [{ waiting }] = await db.query(`SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%DETACH PARTITION%'`);
          return waiting === 1;
        }, 20000, 'the pass to wait for the reader');
        await writer.query(
          `INSERT INTO metric_samples (at, series_id, cpu_mhz, memory_mb) VALUES (now(), $1, 1, 1), (to_timestamp($2 / 1000.0), $1, 2, 2)`,
          [vmSeries, TODAY - DAY + 7_200_000],
        );
        await t.http.post('/api/v1/metrics').send({ samples: [{ vmId: 'keep-v1', at: new Date().toISOString(), cpuMhz: 3, memoryMb: 3 }] }).expect(202);
      } finally {
        await writer.release();
      }
    } finally {
      await reader.commitTransaction();
      await reader.release();
    }
    expect(await pass).toEqual({ downsampledDays: [day(TODAY - 4 * DAY)], droppedDays: [] });
  });
});
