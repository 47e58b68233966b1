import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { DirtyRateService } from '../src/discovery/dirty-rate.service.js';
import { LibvirtLab } from '../src/engine/libvirt/libvirt-lab.js';
import { MetricsCollector } from '../src/metrics/collector.js';
import { MigrationDispatcher } from '../src/migrations/migration-dispatcher.js';
import { MigrationsService } from '../src/migrations/migrations.service.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';
import { freePort } from './support/free-port.js';

/**
 * Measured load from real libvirt daemons: the libvirt metrics source (CPU from cpu.time, memory,
 * contention from vcpu delay, host CPU and memory), libvirt's dirty-rate measurement feeding the
 * planner's pre-copy prediction, and the same VM figures through prometheus-libvirt-exporter and a
 * real Prometheus read by the prometheus source.
 */
const lab = new LibvirtLab({ hostIds: ['m-kvm-1', 'm-kvm-2'] });
const cluster = 'libvirt-metrics';
const ids = { burn: randomUUID(), idle: randomUUID(), dirty: randomUUID() };
let t: TestApp;
let dir: string;
let exporter: ChildProcess | undefined;
let prometheus: ChildProcess | undefined;
let prometheusUrl: string;


async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

beforeAll(async () => {
  await lab.start();
  dir = mkdtempSync(join(tmpdir(), 'ballast-libvirt-prom-'));
  // The real exporter against the first lab host, a real Prometheus scraping it every second.
  const exporterPort = await freePort();
  exporter = spawn('prometheus-libvirt-exporter', [`--libvirt.uri=${lab.host('m-kvm-1').uri}`, `--web.listen-address=127.0.0.1:${exporterPort}`], { stdio: 'ignore' });
  writeFileSync(
    join(dir, 'prometheus.yml'),
    ['global: { scrape_interval: 1s, evaluation_interval: 1s }', 'scrape_configs:', `  - { job_name: libvirt, static_configs: [{ targets: ['127.0.0.1:${exporterPort}'] }] }`, ''].join('\n'),
  );
  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });

  t = await createTestApp({
    MIGRATION_ENGINE: 'libvirt',
    METRICS_INTERVAL_SECONDS: '0',
    PROMETHEUS_URL: prometheusUrl,
    // This lab's host runs at its nodeinfo MHz per CPU; a site puts its own figure here.
    PROMETHEUS_VM_CPU_QUERY: 'rate(libvirt_domain_info_cpu_time_seconds_total[10s]) * 2000',
  });
  await t.http.post('/api/v1/clusters').send({ id: cluster, name: 'metrics lab', metricsSource: 'libvirt', policy: { automationLevel: 'manual' } }).expect(201);
  for (const c of lab.connections) {
    await t.http.post('/api/v1/hosts').send({ clusterId: cluster, id: c.hostId, state: 'connected', connectionUri: c.uri, migrationAddress: '127.0.0.1', migrationBandwidthMbps: 1000 }).expect(201);
  }
  // A guest that spins its vCPU, one that halts, one that dirties memory at a moderate rate.
  await lab.defineGuest('m-kvm-1', { id: ids.burn, name: 'burn', dirtyRateMbps: 3_000_000 });
  await lab.defineGuest('m-kvm-1', { id: ids.idle, name: 'idle', dirtyRateMbps: 0 });
  await lab.defineGuest('m-kvm-1', { id: ids.dirty, name: 'dirty', dirtyRateMbps: 200 });
  expect((await t.http.post(`/api/v1/clusters/${cluster}/discover`).expect(200)).body.added).toHaveLength(3);
  await waitFor(async () => (await fetch(`${prometheusUrl}/-/ready`).catch(() => null))?.ok, 30_000, 'Prometheus to be ready');
}, 90_000);

afterAll(async () => {
  try {
    await t?.close();
  } finally {
    await stop(prometheus);
    await stop(exporter);
    rmSync(dir, { recursive: true, force: true });
    await lab.stop();
  }
}, 120_000);

async function vm(id: string) {
  return (await t.http.get(`/api/v1/vms/${id}`).expect(200)).body;
}

describe('libvirt measured load', () => {
  it('the libvirt source: a guest that burns CPU reads higher than an idle one; contention and host figures recorded', async () => {
    const collector = t.app.get(MetricsCollector);
    // Two collections a few seconds apart: each VM's CPU is the growth of its cpu.time between readings.
    expect(await collector.collect(cluster)).toMatchObject({ outcome: 'collected' });
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(await collector.collect(cluster)).toMatchObject({ outcome: 'collected' });

    const burn = await vm(ids.burn);
    const idle = await vm(ids.idle);
    expect(burn.cpuDemandMhz).toBeGreaterThan(idle.cpuDemandMhz);
    expect(burn.memoryActiveMb).toBeGreaterThan(0);
    expect(burn.memoryActiveMb).toBeLessThanOrEqual(64);

    const series = (await t.http.get(`/api/v1/vms/${ids.burn}/metrics`).expect(200)).body;
    const points = series.points;
    expect(points.length).toBeGreaterThan(0);
    const contention = points.find((p: { cpuContention?: { avg: number } }) => p.cpuContention)?.cpuContention;
    expect(contention.avg).toBeGreaterThanOrEqual(0);
    expect(contention.avg).toBeLessThanOrEqual(1);

    const db = t.app.get(DataSource);
    const [host] = await db.query(
      `SELECT m.cpu_mhz AS cpu, m.memory_mb AS mem FROM metric_samples m JOIN metric_series s ON s.id = m.series_id WHERE s.host_id = 'm-kvm-1' ORDER BY m.at DESC LIMIT 1`,
    );
    expect(host.cpu).toBeGreaterThan(0);
    expect(host.mem).toBeGreaterThan(0);
  }, 60_000);

  it('libvirt measures the dirty rate into the VM; the next migration\'s prediction is made from it', async () => {
    const rates = await t.app.get(DirtyRateService).measure(cluster);
    expect(rates.get(ids.dirty)).toBeGreaterThan(0);
    const dirty = await vm(ids.dirty);
    expect(dirty.memoryDirtyRateMbps).toBe(rates.get(ids.dirty));
    expect((await vm(ids.idle)).memoryDirtyRateMbps).toBeLessThan(dirty.memoryDirtyRateMbps);

    const db = t.app.get(DataSource);
    const [id] = await db.transaction((manager) =>
      t.app.get(MigrationsService).createFromMoves(manager, cluster, null, [{ move: { vmId: ids.dirty, fromHostId: 'm-kvm-1', toHostId: 'm-kvm-2', priority: 1, reason: 'balance' }, moveIndex: 0 }]),
    );
    await t.app.get(MigrationDispatcher).request(cluster);
    const m = await waitFor(async () => {
      const found = (await t.http.get(`/api/v1/migrations/${id}`).expect(200)).body;
      return ['succeeded', 'failed', 'cancelled'].includes(found.state) ? found : null;
    }, 120_000, 'the migration to end');
    expect(m.state).toBe('succeeded');
    // The planner's expectation, made from the measured rate, beside what libvirt measured.
    expect(m.prediction).toMatchObject({ memoryDirtyRateMbps: dirty.memoryDirtyRateMbps, linkMbps: 1000 });
    expect(m.prediction.precopyIterations).toBeGreaterThanOrEqual(1);
    expect(m.result.precopyIterations).toBeGreaterThanOrEqual(1);
    expect(m.result.transferredBytes).toBeGreaterThan(0);
  }, 150_000);

  it('the same VM figures through prometheus-libvirt-exporter and a real Prometheus', async () => {
    await t.http.patch(`/api/v1/clusters/${cluster}`).send({ metricsSource: 'prometheus' }).expect(200);
    const collector = t.app.get(MetricsCollector);
    const db = t.app.get(DataSource);
    const latest = async (vmId: string): Promise<number | null> => {
      const [row] = await db.query(
        `SELECT m.cpu_mhz AS cpu FROM metric_samples m JOIN metric_series s ON s.id = m.series_id WHERE s.vm_id = $1 AND m.cpu_mhz IS NOT NULL AND m.at > now() - interval '2 seconds' ORDER BY m.at DESC LIMIT 1`,
        [vmId],
      );
      return row?.cpu ?? null;
    };
    // rate() needs two scrapes in its window: collect until both guests have a fresh figure from Prometheus.
    const [burn, idle] = await waitFor(async () => {
      const outcome = await collector.collect(cluster);
      if (outcome.outcome !== 'collected') return null;
      const figures = [await latest(ids.burn), await latest(ids.idle)];
      return figures.every((f) => f !== null) ? (figures as number[]) : null;
    }, 60_000, 'Prometheus to have both guests');
    expect(burn).toBeGreaterThan(idle);
  }, 90_000);
});
