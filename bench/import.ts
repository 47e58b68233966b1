/**
 * npm run bench:import: the 96-host sample (8,529 VMs, 58 rules) through POST /clusters/import's
 * service, and its export, timed over several runs (target: import under 5 s).
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from '../src/app.module.js';
import { SnapshotsService } from '../src/inventory/snapshots.service.js';
import { validateSnapshot } from '../src/planner/validate-snapshot.js';
import { benchEnvironment, median } from './support/bench-env.js';

const RUNS = 5;

async function main(): Promise<void> {
  Logger.overrideLogger(['error', 'warn']);
  const text = readFileSync(new URL('../../test/fixtures/scenarios/sample-96-hosts.json', import.meta.url), 'utf8');
  const bench = await benchEnvironment({ BALLAST_ROLES: 'api', BALANCE_INTERVAL_SECONDS: '0' });
  const app = await NestFactory.createApplicationContext(AppModule.forRoot(bench.config), { logger: ['error', 'warn'] });
  try {
    const snapshots = app.get(SnapshotsService);
    const imports: number[] = [];
    const exports: number[] = [];
    let size = { hosts: 0, vms: 0, rules: 0 };
    for (let run = 0; run < RUNS; run += 1) {
      const started = performance.now();
      // What the endpoint does: parse, validate, import (replacing the previous run's cluster).
      const snapshot = validateSnapshot(JSON.parse(text));
      const result = await snapshots.import(snapshot, true);
      imports.push(performance.now() - started);
      size = result;
      const exportStarted = performance.now();
      const exported = await snapshots.build(snapshot.cluster.id);
      exports.push(performance.now() - exportStarted);
      if (exported.vms.length !== snapshot.vms.length) throw new Error('export lost VMs');
    }
    const ms = (values: number[]) => `median ${median(values).toFixed(0)} ms (min ${Math.min(...values).toFixed(0)}, max ${Math.max(...values).toFixed(0)})`;
    console.log(`bench:import — sample-96-hosts.json: ${size.hosts} hosts, ${size.vms} VMs, ${size.rules} rules, ${(text.length / 1e6).toFixed(1)} MB, ${RUNS} runs`);
    console.log(`import (parse, validate, replace in one transaction): ${ms(imports)}`);
    console.log(`export (snapshot of the cluster):                      ${ms(exports)}`);
    console.log(`import: ${median(imports).toFixed(0)} ms median for ${size.vms} VMs (target < 5000 ms: ${median(imports) < 5000 ? 'meets' : 'MISSES'})`);
  } finally {
    await app.close();
    await bench.cleanup();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`bench:import failed: ${(error as Error).stack ?? error}`);
    process.exit(1);
  },
);
