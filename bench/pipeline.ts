/**
 * npm run bench:pipeline: Ballast's migration pipeline against two anchors measured in the same run
 * on this machine: raw BullMQ with a no-op worker, and BullMQ with one PostgreSQL insert per job.
 * The pipeline: approve plans totalling 20,000 moves, simulated engine with zero duration, every
 * state transition and history row written.
 */
import 'reflect-metadata';
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type INestApplicationContext, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { AppModule } from '../src/app.module.js';
import { SnapshotsService } from '../src/inventory/snapshots.service.js';
import { PlansService } from '../src/plans/plans.service.js';
import type { Snapshot } from '../src/planner/snapshot.js';
import { testCluster } from '../test/support/clusters.js';
import { benchEnvironment } from './support/bench-env.js';

const MOVES = Number(process.env.BENCH_MOVES ?? 20000);
/**
 * Worker processes of their own, as a deployment runs them (BALLAST_ROLES=worker beside the
 * scheduler); 0 runs the worker in this process, with the scheduler.
 */
const WORKERS = Number(process.env.BENCH_WORKERS ?? 1);
const CLUSTERS = 20;
const ANCHOR_CONCURRENCY = 50;

function rate(count: number, ms: number): number {
  return Math.round((count / ms) * 1000);
}

async function drainWith(name: string, redisUrl: string, prefix: string, work: () => Promise<void>): Promise<number> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(name, { connection, prefix });
  let done = 0;
  let finished: () => void = () => undefined;
  const allDone = new Promise<void>((resolve) => (finished = resolve));
  const worker = new Worker(name, work, { connection, prefix, concurrency: ANCHOR_CONCURRENCY, autorun: false });
  worker.on('completed', () => {
    done += 1;
    if (done === MOVES) finished();
  });
  const started = Date.now();
  void worker.run();
  for (let i = 0; i < MOVES; i += 1000) {
    await queue.addBulk(
      Array.from({ length: Math.min(1000, MOVES - i) }, (_, j) => ({
        name: 'job',
        data: { n: i + j },
        opts: { removeOnComplete: true },
      })),
    );
  }
  await allDone;
  const elapsed = Date.now() - started;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  connection.disconnect();
  return rate(MOVES, elapsed);
}

/** Clusters whose plans are pure evacuations: MOVES moves in all, spread over CLUSTERS clusters. */
function evacuationClusters(): Snapshot[] {
  const perCluster = Math.ceil(MOVES / CLUSTERS);
  const sources = 5;
  return Array.from({ length: CLUSTERS }, (_, c) => {
    // The sources' VMs, dealt round-robin so that every source has its share.
    const vmsPerHost = [...Array.from({ length: sources }, (_, s) => Math.ceil((perCluster - s) / sources)), ...Array(20).fill(0)];
    return testCluster(`bench-${String(c + 1).padStart(2, '0')}`, {
      vmsPerHost,
      hostMemoryMb: 4_194_304,
      enteringMaintenance: sources,
      datastores: ['ds-1'],
    });
  });
}

async function pipeline(): Promise<{ rate: number; events: number; migrations: number; approveMs: number; cpuMsPerMigration: number }> {
  const bench = await benchEnvironment({
    BALLAST_ROLES: WORKERS > 0 ? 'scheduler' : 'scheduler,worker',
    SIM_TIME_SCALE: '0',
    // Zero-duration migrations: a worker drives many at once, so that its history writes batch well.
    WORKER_CONCURRENCY: String(Math.ceil(400 / Math.max(1, WORKERS))),
    MIGRATION_MAX_PER_CLUSTER: '400',
    BALANCE_INTERVAL_SECONDS: '0',
  });
  let app: INestApplicationContext | undefined;
  const workers: ChildProcess[] = [];
  try {
    app = await NestFactory.createApplicationContext(AppModule.forRoot(bench.config), { logger: ['error', 'warn'] });
    await app.init();
    for (let i = 0; i < WORKERS; i += 1) workers.push(await startWorker({ ...bench.env, BALLAST_ROLES: 'worker' }));
    const snapshots = app.get(SnapshotsService);
    const plans = app.get(PlansService);
    const db = app.get<DataSource>(getDataSourceToken());
    const proposed = [];
    for (const cluster of evacuationClusters()) {
      await snapshots.import(cluster, false);
      proposed.push(await plans.create(cluster.cluster.id, {}, 'operator'));
    }
    const total = proposed.reduce((sum, p) => sum + p.plan.moves.length, 0);
    const started = Date.now();
    const cpuBefore = process.cpuUsage();
    await Promise.all(proposed.map((plan) => plans.approve(plan.id)));
    const approveMs = Date.now() - started;
    // Polled through the index of active migrations, and not too often: the bench must not weigh on what it measures.
    for (;;) {
      const [{ open }] = await db.query(`SELECT count(*)::int AS open FROM migrations WHERE state IN ('pending', 'queued', 'running')`);
      if (open === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const cpu = process.cpuUsage(cpuBefore);
    // The end is when the last migration ended, not when the poll noticed.
    const [{ last }] = await db.query(`SELECT max(finished_at) AS last FROM migrations`);
    const elapsed = new Date(last).getTime() - started;
    const [{ succeeded }] = await db.query(`SELECT count(*)::int AS succeeded FROM migrations WHERE state = 'succeeded'`);
    const [{ complete }] = await db.query(
      `SELECT count(*)::int AS complete FROM (
         SELECT migration_id FROM migration_events WHERE type = 'state' GROUP BY migration_id
         HAVING array_agg(to_state ORDER BY id) = ARRAY['pending', 'queued', 'running', 'succeeded']) c`,
    );
    const [{ events }] = await db.query(`SELECT count(*)::int AS events FROM migration_events`);
    if (succeeded !== total || complete !== total) {
      throw new Error(`of ${total} migrations, ${succeeded} succeeded and ${complete} have the complete history`);
    }
    return { rate: rate(total, elapsed), events, migrations: total, approveMs, cpuMsPerMigration: (cpu.user + cpu.system) / 1000 / total };
  } finally {
    await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('exit', resolve).kill('SIGTERM'))));
    await app?.close();
    await bench.cleanup();
  }
}

/** A worker process of the built service, ready once it says so. */
function startWorker(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('../src/main.js', import.meta.url))], {
    env: { ...process.env, ...env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('migrations at once')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}: ${output}`)));
  });
}

async function main(): Promise<void> {
  Logger.overrideLogger(['error', 'warn']);
  const bench = await benchEnvironment();
  const { REDIS_URL, REDIS_PREFIX, DATABASE_URL } = bench.env;
  console.log(
    `bench:pipeline — ${MOVES} jobs or migrations each, on ${process.platform} with ${(await import('node:os')).cpus().length} cores; ` +
      `worker: ${WORKERS > 0 ? `${WORKERS} processes of their own` : 'in the scheduler\'s process'}`,
  );

  const noop = await drainWith('anchor-noop', REDIS_URL, REDIS_PREFIX, async () => undefined);
  console.log(`BullMQ, no-op worker (concurrency ${ANCHOR_CONCURRENCY}):          ${noop} jobs/s`);

  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 20 });
  // Dropping the anchor's database at the end ends idle connections; that is expected.
  pool.on('error', () => undefined);
  await pool.query(`CREATE TABLE anchor_jobs (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), note text)`);
  const withInsert = await drainWith('anchor-insert', REDIS_URL, REDIS_PREFIX, async () => {
    await pool.query(`INSERT INTO anchor_jobs (note) VALUES ($1)`, ['done']);
  });
  await pool.end();
  await bench.cleanup();
  console.log(`BullMQ + one PostgreSQL insert per job:              ${withInsert} jobs/s`);

  const result = await pipeline();
  console.log(
    `Ballast pipeline (${CLUSTERS} plans, ${result.migrations} moves, simulated engine at zero duration): ` +
      `${result.rate} migrations/s; approvals took ${result.approveMs} ms; ${result.events} history rows ` +
      `(${(result.events / result.migrations).toFixed(1)} per migration), every migration pending -> queued -> running -> succeeded; ` +
      `${result.cpuMsPerMigration.toFixed(2)} ms of this process's CPU per migration`,
  );
  const target = result.rate >= 1000 ? 'meets' : 'MISSES';
  console.log(`target >= 1,000 migrations/s end to end: ${target}`);
  console.log(
    `pipeline: ${result.rate} migrations/s end to end (${(result.rate / noop).toFixed(2)}x no-op BullMQ, ${(result.rate / withInsert).toFixed(2)}x BullMQ + one insert)`,
  );
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`bench:pipeline failed: ${(error as Error).stack ?? error}`);
    process.exit(1);
  },
);
