/**
 * npm run bench:evaluation: the closed loop at scale and its reaction time.
 *
 * 1. Throughput: 1,000 generated clusters of 16 hosts and 300 VMs (fully automated, hold time 0,
 *    so an evaluation plans, stores its plan and starts its moves, but for the few clusters whose
 *    hosts all have headroom: see BALANCING_HEADROOM; the plans stored are printed) imported into a fresh
 *    database, then evaluated by two scheduler processes of the built service (BullMQ evaluation
 *    jobs, the advisory lock per cluster, snapshot read, plan, migrations and the evaluation row
 *    written). Printed beside the same-run reference: a plain plan() loop over the same snapshots
 *    in this process, i.e. what reading, locking and storing add. Target: >= 20 clusters/s.
 * 2. Reaction time: samples pushed (POST /api/v1/metrics) make a host hot; measured from the push
 *    to the first relief migration started (running), against the bound hold time + one collector
 *    interval + 5 s, with a 15 s hold and a 5 s collector interval.
 *
 * Options: --clusters N (default 1000), --skip-throughput, --skip-reaction.
 */
import 'reflect-metadata';
import { cpus } from 'node:os';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AppModule } from '../src/app.module.js';
import { EvaluationsRepository } from '../src/closedloop/evaluations.repository.js';
import { configureHttpApp } from '../src/http-app.js';
import { SnapshotsService } from '../src/inventory/snapshots.service.js';
import { plan } from '../src/planner/index.js';
import type { Snapshot } from '../src/planner/snapshot.js';
import { generateScenario } from '../src/scenarios/generate.js';
import { host, snapshot, vmsOn } from '../test/support/builders.js';
import { startService, type ServiceProcess } from '../test/support/run-node.js';
import { benchEnvironment, median } from './support/bench-env.js';

const TARGET_PER_SECOND = 20;
const SCHEDULERS = 2;
const HOLD_MINUTES = 0.25;
const COLLECTOR_SECONDS = 5;
const REACTION_CLUSTERS = 3;

/** The services' own timers the measurement does not need (each would compete for the two cores). */
const QUIET = { DISCOVERY_INTERVAL_SECONDS: '0', LIBVIRT_DIRTY_RATE_INTERVAL_SECONDS: '0', BALLAST_DEMO: 'false' };

const clusterId = (index: number) => `eval-${String(index + 1).padStart(4, '0')}`;

function cluster(index: number): Snapshot {
  const id = clusterId(index);
  return generateScenario({
    seed: 10_000 + index,
    clusterId: id,
    hosts: 16,
    vms: 300,
    imbalance: 0.6,
    takenAt: new Date().toISOString(),
    hostPrefix: `${id}-esx-`,
    vmPrefix: `${id}-vm-`,
    rulePrefix: `${id}-`,
    rules: { antiAffinity: 2, affinity: 1, should: 1 },
    poweredOff: 10,
    manual: 5,
    policy: { automationLevel: 'fully-automated', holdMinutes: 0 },
  });
}

const perSecond = (count: number, ms: number) => (count / ms) * 1000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Same-run reference: plan() over the same snapshots, one after the other, in this process. */
function planLoop(count: number): { ms: number; moves: number } {
  let ms = 0;
  let moves = 0;
  for (let i = 0; i < Math.min(count, 20); i++) plan(cluster(i)); // JIT warm-up
  for (let i = 0; i < count; i++) {
    const s = cluster(i);
    const started = performance.now();
    moves += plan(s).plan.moves.length;
    ms += performance.now() - started;
  }
  return { ms, moves };
}

async function throughput(count: number): Promise<void> {
  const bench = await benchEnvironment({ BALLAST_ROLES: 'api', BALANCE_INTERVAL_SECONDS: '0', METRICS_INTERVAL_SECONDS: '0', ...QUIET });
  const app = await NestFactory.createApplicationContext(AppModule.forRoot(bench.config), { logger: ['error', 'warn'] });
  const schedulers: ServiceProcess[] = [];
  try {
    const db = app.get<DataSource>(getDataSourceToken());
    const snapshots = app.get(SnapshotsService);
    const evaluations = app.get(EvaluationsRepository);
    const importStarted = performance.now();
    for (let i = 0; i < count; i++) await snapshots.import(cluster(i), false);
    const importMs = performance.now() - importStarted;
    // Not due until both schedulers run: every cluster's evaluation is set for a time after that.
    const park = async (at: Date) =>
      db.transaction(async (manager) => {
        for (let i = 0; i < count; i++) {
          await evaluations.save(manager, {
            clusterId: clusterId(i),
            detections: [],
            evaluatedAt: null,
            nextAt: at,
            summary: null,
            movesStarted: 0,
            recommended: 0,
            planId: null,
            held: [],
            budget: null,
            changeWindow: null,
          });
        }
      });
    await park(new Date(Date.now() + 3_600_000));
    console.log(`imported ${count} clusters (16 hosts, 300 VMs each) in ${(importMs / 1000).toFixed(1)} s`);

    const reference = planLoop(count);

    const env = { ...bench.env, ...QUIET, BALLAST_ROLES: 'scheduler', BALANCE_INTERVAL_SECONDS: '300', METRICS_INTERVAL_SECONDS: '0' };
    for (let i = 0; i < SCHEDULERS; i++) schedulers.push(await startService(env, /roles scheduler/, 120_000));
    const startAt = new Date(Date.now() + 2000);
    await park(startAt);
    const started = startAt.getTime();
    let evaluated = 0;
    let endedAt = 0;
    for (;;) {
      const [{ n }] = await db.query(`SELECT count(*)::int AS n FROM cluster_evaluations WHERE evaluated_at IS NOT NULL`);
      if (n >= count) {
        endedAt = Date.now();
        evaluated = n;
        break;
      }
      if (Date.now() - started > 30 * 60_000) throw new Error(`only ${n} of ${count} clusters evaluated in 30 minutes`);
      await sleep(100);
    }
    // A scheduler also evaluates at once the clusters with a host above its line (newly hot), due or not:
    // those evaluated before the common start count from the first of them.
    const [{ first, early }] = await db.query(
      `SELECT (extract(epoch FROM min(evaluated_at)) * 1000)::float8 AS first, count(*) FILTER (WHERE evaluated_at < $1)::int AS early FROM cluster_evaluations`,
      [startAt],
    );
    const ms = endedAt - Math.min(started, first);
    const [{ plans }] = await db.query(`SELECT count(*)::int AS plans FROM plans WHERE source = 'scheduler'`);
    const [{ migrations }] = await db.query(`SELECT count(*)::int AS migrations FROM migrations`);
    // No worker runs here: what the per-host and per-link limits did not admit stays pending, and every scheduler retries it every 2 s.
    const [{ pending }] = await db.query(`SELECT count(*)::int AS pending FROM migrations WHERE state = 'pending'`);
    const [{ twice }] = await db.query(`SELECT count(*)::int AS twice FROM (SELECT vm_id FROM migrations GROUP BY vm_id HAVING count(*) > 1) t`);
    const byProcess = schedulers.map((s) => new Set([...s.output().matchAll(/cluster (eval-\d+): /g)].map((m) => m[1])).size);
    const rate = perSecond(evaluated, ms);
    const planRate = perSecond(count, reference.ms);
    console.log(
      `evaluations by ${SCHEDULERS} scheduler processes: ${evaluated} clusters in ${(ms / 1000).toFixed(1)} s = ${rate.toFixed(1)} clusters/s ` +
        `(${early} of them before the common start, timed from the first; ${plans} plans stored, ${migrations} migrations started, ${pending} of them left pending by the migration limits with no worker running, ${twice} VMs moved twice; clusters with migrations started per process: ${byProcess.join(' / ')})`,
    );
    console.log(
      `same-run reference, plain plan() loop over the same snapshots in one process: ${planRate.toFixed(1)} clusters/s ` +
        `(${(reference.ms / count).toFixed(1)} ms per cluster, ${reference.moves} moves); the evaluation path runs at ${((rate / planRate) * 100).toFixed(0)} % of it`,
    );
    console.log(`evaluation throughput: ${rate.toFixed(1)} clusters/s (target >= ${TARGET_PER_SECOND}: ${rate >= TARGET_PER_SECOND ? 'meets' : 'MISSES'})`);
  } finally {
    await Promise.all(schedulers.map((s) => s.stop()));
    await app.close();
    await bench.cleanup();
  }
}

/** Four hosts of 76,800 MHz with five 2,000 MHz VMs each: balanced, nothing to do until a push. */
function calmCluster(id: string): Snapshot {
  return snapshot({
    clusterId: id,
    hosts: [1, 2, 3, 4].map((h) => host(`${id}-h${h}`)),
    vms: [1, 2, 3, 4].flatMap((h) => vmsOn(`${id}-h${h}`, 5, `${id}-h${h}-vm`, { cpuDemandMhz: 2_000, memoryActiveMb: 4_000 })),
    policy: { migrationThreshold: 3, automationLevel: 'fully-automated', holdMinutes: HOLD_MINUTES, maxMigrationsPerVmDay: 2 },
  });
}

async function reaction(): Promise<void> {
  const env = { METRICS_SOURCE: 'push', ...QUIET };
  const bench = await benchEnvironment({ BALLAST_ROLES: 'api', BALANCE_INTERVAL_SECONDS: '0', METRICS_INTERVAL_SECONDS: '0', ...env });
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(bench.config), { logger: ['error', 'warn'] });
  configureHttpApp(app);
  await app.listen(0, '127.0.0.1');
  const api = `${(await app.getUrl()).replace('[::1]', '127.0.0.1')}/api/v1`;
  const post = async (path: string, body: unknown, expected: number) => {
    const response = await fetch(`${api}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (response.status !== expected) throw new Error(`POST ${path}: ${response.status} ${await response.text()}`);
  };
  let scheduler: ServiceProcess | null = null;
  try {
    const db = app.get<DataSource>(getDataSourceToken());
    const ids = Array.from({ length: REACTION_CLUSTERS }, (_, i) => `hot-${i + 1}`);
    for (const id of ids) await post('/clusters/import', calmCluster(id), 201);
    scheduler = await startService(
      {
        ...bench.env,
        ...env,
        BALLAST_ROLES: 'scheduler,worker',
        BALANCE_INTERVAL_SECONDS: '300',
        METRICS_INTERVAL_SECONDS: String(COLLECTOR_SECONDS),
        SIM_TIME_SCALE: '0.01',
      },
      /roles scheduler/,
      120_000,
    );
    // Steady state first: every cluster evaluated once and found calm.
    for (;;) {
      const [{ n }] = await db.query(`SELECT count(*)::int AS n FROM cluster_evaluations WHERE evaluated_at IS NOT NULL AND detections = '[]'::jsonb`);
      if (n === ids.length) break;
      await sleep(200);
    }
    // One cluster after the other, at different phases of the collector's and scheduler's timers:
    // the five VMs of host 1 at 14,600 MHz each (95 % of the host, above the 85 % line of threshold 3).
    const pushedAt = new Map<string, number>();
    for (const id of ids) {
      const at = new Date();
      const samples = Array.from({ length: 5 }, (_, i) => ({ vmId: `${id}-h1-vm-${i + 1}`, at: at.toISOString(), cpuMhz: 14_600, memoryMb: 4_000 }));
      pushedAt.set(id, Date.now());
      await post('/metrics', { samples }, 202);
      await sleep(1700);
    }
    const reactions = new Map<string, { decided: number; running: number }>();
    // When each evaluation first saw the host hot (the hold time runs from there).
    const detected = new Map<string, number>();
    const deadline = Date.now() + 120_000;
    while (reactions.size < ids.length) {
      if (Date.now() > deadline) throw new Error(`no relief migration within 120 s for ${ids.filter((id) => !reactions.has(id)).join(', ')}`);
      const seen: { cluster_id: string; since: string | null }[] = await db.query(
        `SELECT cluster_id, (SELECT min((d->>'since')::float8) FROM jsonb_array_elements(detections) d WHERE d->>'kind' = 'overloaded')::text AS since FROM cluster_evaluations`,
      );
      for (const r of seen) if (r.since !== null && !detected.has(r.cluster_id)) detected.set(r.cluster_id, Number(r.since) - pushedAt.get(r.cluster_id)!);
      const rows: { cluster_id: string; created: Date; started: Date | null }[] = await db.query(
        `SELECT cluster_id, min(created_at) AS created, min(started_at) AS started FROM migrations GROUP BY cluster_id`,
      );
      for (const r of rows) {
        if (r.started === null || reactions.has(r.cluster_id)) continue;
        const t0 = pushedAt.get(r.cluster_id)!;
        reactions.set(r.cluster_id, { decided: new Date(r.created).getTime() - t0, running: new Date(r.started).getTime() - t0 });
      }
      await sleep(200);
    }
    const boundMs = HOLD_MINUTES * 60_000 + COLLECTOR_SECONDS * 1000 + 5000;
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const running = ids.map((id) => reactions.get(id)!.running);
    console.log(
      `reaction time (hold ${HOLD_MINUTES * 60} s, collector every ${COLLECTOR_SECONDS} s), from the pushed samples that make a host hot to the first relief migration running: ` +
        ids
          .map((id) => {
            const r = reactions.get(id)!;
            const seenAfter = detected.get(id);
            return `${id} ${s(r.running)} (hot seen by an evaluation after ${seenAfter === undefined ? '?' : s(seenAfter)}, moves decided after ${s(r.decided)})`;
          })
          .join(', '),
    );
    const worst = Math.max(...running);
    console.log(
      `reaction time: worst ${s(worst)}, median ${s(median(running))}; bound hold + one collector interval + 5 s = ${s(boundMs)}: ${worst <= boundMs ? 'meets' : 'MISSES'}`,
    );
  } finally {
    await scheduler?.stop();
    await app.close();
    await bench.cleanup();
  }
}

async function main(): Promise<void> {
  Logger.overrideLogger(['error', 'warn']);
  const args = process.argv.slice(2);
  const at = args.indexOf('--clusters');
  const count = at >= 0 ? Number(args[at + 1]) : 1000;
  if (!Number.isInteger(count) || count < 1 || count > 100_000) throw new Error('--clusters: a whole number from 1 to 100000');
  console.log(`bench:evaluation — on ${process.platform} with ${cpus().length} cores (shared: compare with the same-run reference, not across runs)`);
  if (!args.includes('--skip-throughput')) await throughput(count);
  if (!args.includes('--skip-reaction')) await reaction();
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`bench:evaluation failed: ${(error as Error).message}`);
    process.exit(1);
  },
);
