/**
 * npm run bench:status: the status of the 96-host sample (8,500 VMs, measured once by the collector),
 * computed in the server (target: < 200 ms) and over HTTP, beside the same-run floor: one plain read
 * of the cluster's hosts and VMs over pg. `--quick`: fewer runs.
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import pg from 'pg';
import { AppModule } from '../src/app.module.js';
import { configureHttpApp } from '../src/http-app.js';
import { MetricsCollector } from '../src/metrics/collector.js';
import { StatusService } from '../src/status/status.service.js';
import { benchEnvironment, median } from './support/bench-env.js';

const RUNS = 15;
const TARGET_MS = 200;

async function main(): Promise<void> {
  Logger.overrideLogger(['error', 'warn']);
  const quick = process.argv.includes('--quick');
  const runs = quick ? 5 : RUNS;
  const bench = await benchEnvironment({ BALLAST_ROLES: 'api', BALANCE_INTERVAL_SECONDS: '0' });
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(bench.config), { logger: ['error', 'warn'] });
  configureHttpApp(app);
  await app.listen(0, '127.0.0.1');
  const api = `${(await app.getUrl()).replace('[::1]', '127.0.0.1')}/api/v1`;
  const pool = new pg.Pool({ connectionString: bench.env.DATABASE_URL, max: 1 });
  try {
    const text = readFileSync(new URL('../../test/fixtures/scenarios/sample-96-hosts.json', import.meta.url), 'utf8');
    const sample = JSON.parse(text) as { cluster: { id: string }; hosts: unknown[]; vms: unknown[] };
    const imported = await fetch(`${api}/clusters/import`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
    if (!imported.ok) throw new Error(`import: ${imported.status} ${await imported.text()}`);
    const id = sample.cluster.id;
    const status = app.get(StatusService);
    // One collection, so that every VM has its series and a newest sample, as in a running installation.
    await app.get(MetricsCollector).collect(id, new Date());

    const server: number[] = [];
    const http: number[] = [];
    let hosts = 0;
    for (let run = 0; run < runs + 2; run++) {
      const started = performance.now();
      await status.status(id);
      const serverMs = performance.now() - started;
      const httpStarted = performance.now();
      const response = await fetch(`${api}/clusters/${id}/status`);
      const body = (await response.json()) as { hosts: unknown[] };
      const httpMs = performance.now() - httpStarted;
      hosts = body.hosts.length;
      // The first two warm the statements and the caches up.
      if (run >= 2) {
        server.push(serverMs);
        http.push(httpMs);
      }
    }
    const floor: number[] = [];
    for (let run = 0; run < runs; run++) {
      const started = performance.now();
      await pool.query(`SELECT * FROM hosts WHERE cluster_id = $1`, [id]);
      await pool.query(`SELECT * FROM vms WHERE cluster_id = $1`, [id]);
      floor.push(performance.now() - started);
    }
    const ms = (v: number) => `${v.toFixed(1)} ms`;
    console.log(`bench:status — sample-96-hosts: ${sample.hosts.length} hosts, ${sample.vms.length} VMs; ${runs} runs after 2 warm-up runs`);
    console.log(`status computed in the server (StatusService): median ${ms(median(server))} (min ${ms(Math.min(...server))}, max ${ms(Math.max(...server))}); target < ${TARGET_MS} ms: ${median(server) < TARGET_MS ? 'meets' : 'MISSES'}`);
    console.log(`GET /api/v1/clusters/${id}/status over HTTP (with JSON, ${hosts} hosts): median ${ms(median(http))}`);
    console.log(`same-run floor, SELECT * of its hosts and VMs over pg: median ${ms(median(floor))}`);
  } finally {
    await pool.end();
    await app.close();
    await bench.cleanup();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`bench:status failed: ${(error as Error).stack ?? error}`);
    process.exit(1);
  },
);
