/**
 * npm run bench:libvirt: one small TCG guest (64 MiB) between the two libvirt daemons of the lab
 * (LibvirtLab), moved in turn by Ballast (the API call that moves it, POST /hosts/:id/maintenance,
 * to the migration's `succeeded` seen through the API, with MIGRATION_ENGINE=libvirt in the real
 * service: planner, dispatcher, BullMQ, worker, engine, history) and by `virsh migrate` alone (the
 * same command line the engine runs), in both directions. Prints both times, Ballast's overhead
 * ratio (target <= 1.2x) and where Ballast's extra time goes. Needs root, like the lab.
 * `--rounds N` (default 5 migrations of each).
 */
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from '../src/app.module.js';
import { LibvirtLab } from '../src/engine/libvirt/libvirt-lab.js';
import { configureHttpApp } from '../src/http-app.js';
import { benchEnvironment, median } from './support/bench-env.js';

const exec = promisify(execFile);
const TARGET_RATIO = 1.2;
const CLUSTER = 'bench-libvirt';
const HOSTS = ['bench-kvm-1', 'bench-kvm-2'] as const;
const LINK_MBPS = 10_000;
/**
 * How often the bench asks the API whether the migration ended. The time taken is up to the row's
 * `finishedAt` (the moment it became succeeded), so the poll's period is not counted, and it is slow
 * enough not to load the machine the migration runs on.
 */
const POLL_MS = 250;

interface MigrationRow {
  id: string;
  state: string;
  error: string | null;
  createdAt: string;
  queuedAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  result: { totalTimeMs: number; downtimeMs: number } | null;
}

/** Where one Ballast migration's time went, in ms. */
interface BallastRun {
  totalMs: number;
  /** The API call until the migration row exists (maintenance admission and its plan). */
  requestMs: number;
  /** Created until queued (the dispatcher's pass, the BullMQ job). */
  dispatchMs: number;
  /** Queued until running (a worker picks the job up, the running transition). */
  pickupMs: number;
  /** Running until succeeded (precheck, the engine's migration, its result, the history). */
  engineMs: number;
  /** libvirt's own account of the job (time_elapsed). */
  libvirtJobMs: number;
  /** Succeeded until the bench saw it (not part of totalMs). */
  observedMs: number;
}

async function main(): Promise<void> {
  Logger.overrideLogger(['error', 'warn']);
  const roundsAt = process.argv.indexOf('--rounds');
  const rounds = roundsAt > 0 ? Number.parseInt(process.argv[roundsAt + 1], 10) : 5;
  if (!(rounds > 0)) throw new Error('--rounds must be a positive integer');
  const lab = new LibvirtLab({ hostIds: [...HOSTS] });
  const bench = await benchEnvironment({
    MIGRATION_ENGINE: 'libvirt',
    BALANCE_INTERVAL_SECONDS: '0',
    METRICS_INTERVAL_SECONDS: '0',
    DISCOVERY_INTERVAL_SECONDS: '0',
    LOG_LEVEL: 'warn',
  });
  let app: NestExpressApplication | undefined;
  try {
    const connections = await lab.start();
    const vmId = randomUUID();
    await lab.defineGuest(HOSTS[0], { id: vmId, name: 'bench-guest', memoryMb: 64 });
    app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(bench.config), { logger: ['error', 'warn'] });
    configureHttpApp(app);
    await app.listen(0, '127.0.0.1');
    const api = `${(await app.getUrl()).replace('[::1]', '127.0.0.1')}/api/v1`;
    const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const response = await fetch(`${api}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
      return (text ? JSON.parse(text) : null) as T;
    };

    await call('POST', '/clusters', { id: CLUSTER, name: 'bench:libvirt', policy: { automationLevel: 'manual' } });
    for (const c of connections) {
      await call('POST', '/hosts', { clusterId: CLUSTER, id: c.hostId, state: 'connected', connectionUri: c.uri, migrationAddress: '127.0.0.1', migrationBandwidthMbps: LINK_MBPS });
    }
    await call('POST', `/clusters/${CLUSTER}/discover`);
    const uri = (hostId: string) => lab.host(hostId).uri;
    const seen = new Set<string>();

    const viaBallast = async (from: string, to: string): Promise<BallastRun> => {
      const started = performance.now();
      const startedAt = Date.now();
      await call('POST', `/hosts/${from}/maintenance`, {});
      let row: MigrationRow | undefined;
      for (;;) {
        const page = await call<{ items: MigrationRow[] }>('GET', `/migrations?vmId=${vmId}&limit=10`);
        row = page.items.find((m) => !seen.has(m.id) && ['succeeded', 'failed', 'cancelled'].includes(m.state));
        if (row) break;
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      const observedAt = startedAt + (performance.now() - started);
      seen.add(row.id);
      if (row.state !== 'succeeded') throw new Error(`Ballast's migration ${row.id} from ${from} to ${to} ${row.state}: ${row.error}`);
      // Back in service for the next round (not timed).
      await call('DELETE', `/hosts/${from}/maintenance`, {});
      const at = (value: string | null) => Date.parse(value!);
      return {
        totalMs: at(row.finishedAt) - startedAt,
        requestMs: at(row.createdAt) - startedAt,
        dispatchMs: at(row.queuedAt) - at(row.createdAt),
        pickupMs: at(row.startedAt) - at(row.queuedAt),
        engineMs: at(row.finishedAt) - at(row.startedAt),
        libvirtJobMs: row.result?.totalTimeMs ?? 0,
        observedMs: observedAt - at(row.finishedAt),
      };
    };

    const viaVirsh = async (from: string, to: string): Promise<number> => {
      // The engine's own command line, with the same link and flags.
      const args = ['-q', '-c', uri(from), 'migrate', '--live', '--persistent', '--undefinesource', '--auto-converge', '--bandwidth', String(Math.floor((LINK_MBPS * 1_000_000) / 8 / 1024 / 1024)), vmId, uri(to), '--unsafe', '--migrateuri', 'tcp://127.0.0.1'];
      const started = performance.now();
      await exec('virsh', args, { timeout: 300_000 });
      const ms = performance.now() - started;
      // Ballast learns of the move outside it (not timed).
      const found = await call<{ moved: unknown[] }>('POST', `/clusters/${CLUSTER}/discover`);
      if (found.moved.length !== 1) throw new Error(`discovery did not see virsh's move: ${JSON.stringify(found)}`);
      return ms;
    };

    // A warm-up pair (first daemon connections, first statements, first QEMU start on each side).
    await viaBallast(HOSTS[0], HOSTS[1]);
    await viaVirsh(HOSTS[1], HOSTS[0]);

    const ballast: BallastRun[] = [];
    const virsh: number[] = [];
    for (let round = 0; round < rounds; round++) {
      // In turn, each tool in both directions: even rounds Ballast goes 1 -> 2, odd rounds 2 -> 1.
      const [a, b] = round % 2 === 0 ? [HOSTS[0], HOSTS[1]] : [HOSTS[1], HOSTS[0]];
      if (round % 2 === 0) {
        ballast.push(await viaBallast(a, b));
        virsh.push(await viaVirsh(b, a));
      } else {
        virsh.push(await viaVirsh(b, a));
        ballast.push(await viaBallast(a, b));
      }
    }

    const ms = (v: number) => `${Math.round(v)} ms`;
    const list = (values: number[]) => values.map((v) => Math.round(v)).join(', ');
    const ratio = median(ballast.map((r) => r.totalMs)) / median(virsh);
    const part = (key: keyof BallastRun) => ms(median(ballast.map((r) => r[key])));
    console.log(`bench:libvirt — one 64 MiB TCG guest between two libvirt daemons of this machine, ${rounds} migrations by each, in turn, both directions (after one warm-up each)`);
    console.log(`virsh migrate alone:            median ${ms(median(virsh))} (${list(virsh)})`);
    console.log(`Ballast, API call to succeeded: median ${ms(median(ballast.map((r) => r.totalMs)))} (${list(ballast.map((r) => r.totalMs))})`);
    console.log(`overhead: ${ratio.toFixed(2)}x libvirt's own time (target <= ${TARGET_RATIO}x): ${ratio <= TARGET_RATIO ? 'meets' : 'MISSES'}`);
    console.log(
      `Ballast's time, medians: request ${part('requestMs')}, dispatch ${part('dispatchMs')}, worker pick-up ${part('pickupMs')}, ` +
        `running ${part('engineMs')} (libvirt's job itself ${part('libvirtJobMs')}); the bench, polling every ${POLL_MS} ms, saw it ${part('observedMs')} after (not counted)`,
    );
  } finally {
    await app?.close();
    await lab.stop();
    await bench.cleanup();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`bench:libvirt failed: ${(error as Error).message}`);
    process.exit(1);
  },
);
