/**
 * `npm run build && node dist/bench/ha-tick.js [--analyze]`: what failed-host detection costs on the
 * 96-host sample (8,500 VMs, collected three times): the scheduler tick's query for clusters with a
 * failing or returning host (every 2 s, beside newlyHot's for comparison) and an evaluation's read of
 * when each host was last heard of. `--analyze` refreshes the planner's statistics first (a freshly
 * imported table has none; autovacuum gives a running installation its own).
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DataSource } from 'typeorm';
import { AppModule } from '../src/app.module.js';
import { IncidentsRepository } from '../src/closedloop/incidents.repository.js';
import { EvaluationsRepository } from '../src/closedloop/evaluations.repository.js';
import { configureHttpApp } from '../src/http-app.js';
import { MetricsCollector } from '../src/metrics/collector.js';
import { hostsLastHeardSql, SeriesRepository } from '../src/metrics/series.repository.js';
import { benchEnvironment, median } from './support/bench-env.js';

async function main(): Promise<void> {
  Logger.overrideLogger(['error', 'warn']);
  const bench = await benchEnvironment({ BALLAST_ROLES: 'api', BALANCE_INTERVAL_SECONDS: '0' });
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(bench.config), { logger: ['error', 'warn'] });
  configureHttpApp(app);
  await app.listen(0, '127.0.0.1');
  const api = `${(await app.getUrl()).replace('[::1]', '127.0.0.1')}/api/v1`;
  try {
    const text = readFileSync(new URL('../../test/fixtures/scenarios/sample-96-hosts.json', import.meta.url), 'utf8');
    const id = (JSON.parse(text) as { cluster: { id: string } }).cluster.id;
    const imported = await fetch(`${api}/clusters/import`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
    if (!imported.ok) throw new Error(`import: ${imported.status}`);
    for (let i = 0; i < 3; i++) await app.get(MetricsCollector).collect(id, new Date(Date.now() + i * 60_000));
    const db = app.get(DataSource);
    if (process.argv.includes('--analyze')) await db.query('ANALYZE');
    const time = async (what: string, f: () => Promise<unknown>) => {
      const ms: number[] = [];
      for (let run = 0; run < 12; run++) {
        const started = performance.now();
        await f();
        if (run >= 2) ms.push(performance.now() - started);
      }
      console.log(`${what}: median ${median(ms).toFixed(1)} ms`);
    };
    await time('tick: clustersWithFailingOrReturningHosts', () => app.get(IncidentsRepository).clustersWithFailingOrReturningHosts(new Date()));
    await time('tick: newlyHot (existing, for comparison)', () => app.get(EvaluationsRepository).newlyHot());
    const plan: { 'QUERY PLAN': string }[] = await db.query(
      `EXPLAIN (ANALYZE, BUFFERS) ${hostsLastHeardSql('$2', '$1')}`,
      [id, new Date(Date.now() - 86_400_000)],
    );
    console.log(plan.map((r) => r['QUERY PLAN']).join('\n'));
    await time('evaluation: hostsLastHeard', () => app.get(SeriesRepository).hostsLastHeard(db.manager, id, new Date(Date.now() - 86_400_000)));
  } finally {
    await app.close();
    await bench.cleanup();
  }
}
void main();
