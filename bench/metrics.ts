/**
 * npm run bench:metrics: samples pushed in batches of 1,000 through POST /api/v1/metrics (HTTP, JSON
 * parsing, validation, series of the ids, one unnest INSERT) into PostgreSQL while the collector runs (every
 * COLLECT_EVERY_S seconds, so that the pushes share the process with it even when they take less
 * than the default interval of 20 s), side
 * by side with a plain multi-row INSERT of the same rows over the same number of connections, in
 * the same run (target: >= 20,000 samples/s); the bytes a sample takes on disk; and reading 30 days
 * of 5-minute data of one host through GET /hosts/:id/metrics (target: < 100 ms).
 */
import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { getDataSourceToken } from '@nestjs/typeorm';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { AppModule } from '../src/app.module.js';
import { configureHttpApp } from '../src/http-app.js';
import { MetricsCollector } from '../src/metrics/collector.js';
import { SamplesRepository } from '../src/metrics/samples.repository.js';
import { SeriesRepository } from '../src/metrics/series.repository.js';
import { generateScenario, mulberry32 } from '../src/scenarios/generate.js';
import { benchEnvironment, median } from './support/bench-env.js';

const SEED = 8;
const HOSTS = 50;
const VMS = 5000;
const BATCH = 1000;
const BATCHES = 400;
const IN_FLIGHT = 4;
const DAY = 86_400_000;
const COLLECT_EVERY_S = 5;

interface Sample {
  vmId: string;
  at: string;
  cpuMhz: number;
  memoryMb: number;
}

/** Runs `jobs` with `parallel` of them in flight; returns the wall time in ms. */
async function inParallel(jobs: (() => Promise<void>)[], parallel: number): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < jobs.length) await jobs[next++]();
    }),
  );
  return performance.now() - started;
}

async function main(): Promise<void> {
  Logger.overrideLogger(['error', 'warn']);
  const bench = await benchEnvironment({ BALLAST_ROLES: 'api,scheduler', BALANCE_INTERVAL_SECONDS: '0', METRICS_INTERVAL_SECONDS: String(COLLECT_EVERY_S) });
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(bench.config), { logger: ['error', 'warn'] });
  configureHttpApp(app);
  await app.listen(0, '127.0.0.1');
  const api = `${(await app.getUrl()).replace('[::1]', '127.0.0.1')}/api/v1`;
  const db = app.get<DataSource>(getDataSourceToken());
  const pool = new pg.Pool({ connectionString: bench.env.DATABASE_URL, max: IN_FLIGHT });
  try {
    const cluster = generateScenario({ seed: SEED, hosts: HOSTS, vms: VMS, clusterId: 'bench', imbalance: 0.5, takenAt: new Date().toISOString() });
    await fetchOk(`${api}/clusters/import`, cluster);
    await fetchOk(`${api}/clusters/bench`, { metricsSource: 'push' }, 'PATCH');

    // The batches, built before the clock starts: every VM a sample every 20 s over the last 27 minutes,
    // so that the collector smooths them all (a 30-minute window of 5,000 VMs) while they arrive.
    const start = Date.now() - 27 * 60_000;
    const rnd = mulberry32(SEED);
    const batches: Sample[][] = [];
    for (let b = 0; b < BATCHES; b++) {
      const samples: Sample[] = [];
      for (let i = 0; i < BATCH; i++) {
        const n = b * BATCH + i;
        const vm = cluster.vms[n % VMS];
        samples.push({ vmId: vm.id, at: new Date(start + Math.floor(n / VMS) * 20_000).toISOString(), cpuMhz: Math.round(vm.cpuDemandMhz * (0.5 + rnd())), memoryMb: Math.round(vm.memoryActiveMb * (0.9 + rnd() / 5)) });
      }
      batches.push(samples);
    }
    const bodies = batches.map((samples) => JSON.stringify({ samples }));

    // Warm-up: a few batches (series created, statements planned), not counted.
    for (const body of bodies.slice(0, 5)) await post(`${api}/metrics`, body);
    const rawBefore = await count(db);
    const collector = app.get(MetricsCollector);
    const collectAll = collector.collectAll.bind(collector);
    let collections = 0;
    collector.collectAll = (now?: Date) => {
      collections++;
      return collectAll(now);
    };
    const pushMs = await inParallel(bodies.slice(5).map((body) => () => post(`${api}/metrics`, body)), IN_FLIGHT);
    const collectionsDuringPush = collections;
    const pushed = (BATCHES - 5) * BATCH;
    if ((await count(db)) - rawBefore !== pushed) throw new Error('not every pushed sample was stored');
    const [{ smoothed }] = await db.query(`SELECT count(*)::int AS smoothed FROM metric_series WHERE vm_id IS NOT NULL AND last_sample_at IS NOT NULL`);
    const bytes = await rawBytesPerSample(db);

    // The reference: the same rows (by series id) as plain multi-row INSERTs, 1,000 rows a statement.
    const series = new Map<string, number>((await db.query(`SELECT vm_id, id FROM metric_series WHERE vm_id IS NOT NULL`)).map((r: { vm_id: string; id: number }) => [r.vm_id, r.id]));
    const statements = batches.slice(5).map((samples) => {
      const values: unknown[] = [];
      const rows = samples.map((s, i) => {
        values.push(s.at, series.get(s.vmId), s.cpuMhz, s.memoryMb);
        return `($${i * 4 + 1}, $${i * 4 + 2}, $${i * 4 + 3}, $${i * 4 + 4})`;
      });
      return { text: `INSERT INTO metric_samples (at, series_id, cpu_mhz, memory_mb) VALUES ${rows.join(', ')}`, values };
    });
    const referenceMs = await inParallel(statements.map((s) => async () => void (await pool.query(s.text, s.values))), IN_FLIGHT);

    // 30 days of 5-minute rows for 200 series (one of them a host), folded as the rollup leaves them.
    const hostId = cluster.hosts[0].id;
    const hostSeries = (await app.get(SeriesRepository).create('host', [hostId])).get(hostId)!;
    const samplesRepo = app.get(SamplesRepository);
    const today = Math.floor(Date.now() / DAY) * DAY;
    for (let d = 30; d >= 1; d--) await samplesRepo.ensureDay('metric_samples_5m', today - d * DAY);
    const otherSeries: number[] = [...series.values()].slice(0, 199);
    const fillStarted = performance.now();
    for (let d = 30; d >= 1; d--) {
      await db.query(
        `INSERT INTO metric_samples_5m (bucket, series_id, samples, cpu_avg, cpu_max, memory_avg, memory_max)
         SELECT b, s, 15, 1000 + random() * 500, 2000, 4000, 4100
         FROM generate_series(to_timestamp($1 / 1000.0), to_timestamp($2 / 1000.0) - interval '5 minutes', interval '5 minutes') AS b,
              unnest($3::int[]) AS s`,
        [today - d * DAY, today - (d - 1) * DAY, [hostSeries, ...otherSeries]],
      );
    }
    const fillMs = performance.now() - fillStarted;
    await db.query(`UPDATE metrics_rollup SET downsampled_until = to_timestamp($1 / 1000.0)`, [today]);
    await db.query(`ANALYZE metric_samples_5m`);
    const [{ rows5m, size5m }] = await db.query(
      `SELECT sum(c.reltuples)::bigint AS rows5m, sum(pg_total_relation_size(c.oid))::bigint AS size5m
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'metric_samples_5m'::regclass`,
    );
    const from = new Date(today - 30 * DAY).toISOString();
    const to = new Date(today).toISOString();
    const reads: number[] = [];
    let points = 0;
    for (let run = 0; run < 7; run++) {
      const started = performance.now();
      const response = await fetch(`${api}/hosts/${hostId}/metrics?from=${from}&to=${to}&step=5m`);
      const body = (await response.json()) as { points: unknown[] };
      reads.push(performance.now() - started);
      points = body.points.length;
    }

    const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);
    const pushRate = rate(pushed, pushMs);
    const referenceRate = rate(pushed, referenceMs);
    console.log(`bench:metrics — seed ${SEED}: ${HOSTS} hosts, ${VMS} VMs (push source), the collector running every ${COLLECT_EVERY_S} s; ${BATCHES - 5} batches of ${BATCH}, ${IN_FLIGHT} in flight`);
    console.log(`POST /api/v1/metrics (HTTP, JSON, validation, ids, unnest INSERT): ${pushRate.toLocaleString('en')} samples/s (${(pushMs / 1000).toFixed(2)} s; meanwhile ${collectionsDuringPush} collections, which smoothed ${smoothed} VMs into the inventory)`);
    console.log(`plain multi-row INSERT of the same rows (pg, ${IN_FLIGHT} connections):   ${referenceRate.toLocaleString('en')} samples/s (${(referenceMs / 1000).toFixed(2)} s): Ballast at ${(pushRate / referenceRate).toFixed(2)}x`);
    console.log(`target >= 20,000 samples/s: ${pushRate >= 20_000 ? 'meets' : 'MISSES'}`);
    console.log(`raw sample on disk: ${bytes.toFixed(1)} bytes (heap and index); 5-minute row: ${(Number(size5m) / Number(rows5m)).toFixed(1)} bytes (${Number(rows5m).toLocaleString('en')} rows written in ${(fillMs / 1000).toFixed(1)} s)`);
    console.log(`30 days of 5-minute data of one host (${points} points) through GET /hosts/:id/metrics: median ${median(reads).toFixed(1)} ms (min ${Math.min(...reads).toFixed(1)}, max ${Math.max(...reads).toFixed(1)}; target < 100 ms: ${median(reads) < 100 ? 'meets' : 'MISSES'})`);
  } finally {
    await pool.end();
    await app.close();
    await bench.cleanup();
  }
}

async function count(db: DataSource): Promise<number> {
  const [{ n }] = await db.query(`SELECT count(*)::int AS n FROM metric_samples`);
  return n;
}

/** Heap and index bytes of the raw partitions per stored sample. */
async function rawBytesPerSample(db: DataSource): Promise<number> {
  await db.query(`VACUUM ANALYZE metric_samples`);
  const [{ size, rows }] = await db.query(
    `SELECT sum(pg_total_relation_size(c.oid))::bigint AS size, (SELECT count(*) FROM metric_samples) AS rows
     FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'metric_samples'::regclass`,
  );
  return Number(size) / Number(rows);
}

async function post(url: string, body: string): Promise<void> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  if (response.status !== 202) throw new Error(`POST ${url}: ${response.status} ${await response.text()}`);
  await response.arrayBuffer();
}

async function fetchOk(url: string, body: unknown, method = 'POST'): Promise<void> {
  const response = await fetch(url, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${await response.text()}`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`bench:metrics failed: ${(error as Error).stack ?? error}`);
    process.exit(1);
  },
);
