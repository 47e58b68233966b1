import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { getDataSourceToken } from '@nestjs/typeorm';
import { MetricsCollector } from '../src/metrics/collector.js';
import { host, snapshot, vm } from './support/builders.js';
import { startService } from './support/run-node.js';
import { createSiblingApp, createTestApp, type TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

/** The collector with the simulated source, on the real database: samples, smoothing, locks. */
let t: TestApp;
let db: DataSource;
let collector: MetricsCollector;
const T0 = Date.UTC(2026, 11, 2, 12, 0, 0);
const at = (k: number) => new Date(T0 + k * 20_000);

const cluster = snapshot({
  clusterId: 'sim',
  hosts: [host('sim-h1'), host('sim-h2')],
  vms: [
    vm('sim-v1', 'sim-h1', { cpuDemandMhz: 4000, memoryActiveMb: 6000 }),
    vm('sim-v2', 'sim-h1', { cpuDemandMhz: 1000, memoryActiveMb: 2000 }),
    vm('sim-v3', 'sim-h2', { cpuDemandMhz: 2500, memoryActiveMb: 4000 }),
    vm('sim-off', 'sim-h2', { powerState: 'off' }),
  ],
});

async function demand(id: string): Promise<{ cpuDemandMhz: number; memoryActiveMb: number }> {
  return (await t.http.get(`/api/v1/vms/${id}`).expect(200)).body;
}

beforeAll(async () => {
  t = await createTestApp({ METRICS_INTERVAL_SECONDS: '0' });
  db = t.app.get<DataSource>(getDataSourceToken());
  collector = t.app.get(MetricsCollector);
  await t.http.post('/api/v1/clusters/import').send(cluster).expect(201);
});

afterAll(async () => {
  await t?.close();
});

describe('the metrics source of a cluster', () => {
  it('is METRICS_SOURCE unless the cluster names one; PATCH sets and resets it, bad values are 400s', async () => {
    expect((await t.http.get('/api/v1/clusters/sim').expect(200)).body.metricsSource).toBe('simulated');
    expect((await t.http.patch('/api/v1/clusters/sim').send({ metricsSource: 'push' }).expect(200)).body.metricsSource).toBe('push');
    const bad = await t.http.patch('/api/v1/clusters/sim').send({ metricsSource: 'snmp' }).expect(400);
    expect(bad.body.errors).toEqual([{ field: 'body.metricsSource', reason: expect.stringContaining('must be one of simulated, prometheus, push, libvirt') }]);
    expect((await t.http.get('/api/v1/clusters/sim').expect(200)).body.metricsSource).toBe('push');
    expect((await t.http.patch('/api/v1/clusters/sim').send({ metricsSource: null }).expect(200)).body.metricsSource).toBe('simulated');
    await t.http.post('/api/v1/clusters').send({ id: 'other', name: 'Other', metricsSource: 'fax' }).expect(400);
    expect((await t.http.post('/api/v1/clusters').send({ id: 'other', name: 'Other', metricsSource: 'prometheus' }).expect(201)).body.metricsSource).toBe('prometheus');
  });
});

describe('collecting with the simulated source', () => {
  it('stores a sample of each powered-on VM and each host per collection', async () => {
    const outcome = await collector.collect('sim', at(0));
    expect(outcome).toMatchObject({ outcome: 'collected', source: 'simulated', samples: 3 + 2 });
    const [{ count }] = await db.query(
      `SELECT count(*)::int AS count FROM metric_samples m JOIN metric_series s ON s.id = m.series_id
       LEFT JOIN vms v ON v.id = s.vm_id LEFT JOIN hosts h ON h.id = s.host_id WHERE coalesce(v.cluster_id, h.cluster_id) = 'sim'`,
    );
    expect(count).toBe(5);
  });

  it('writes the smoothed demand into the inventory, keeping the configured baseline apart', async () => {
    for (let k = 1; k <= 30; k++) await collector.collect('sim', at(k));
    const v1 = await demand('sim-v1');
    expect(v1.cpuDemandMhz).not.toBe(4000);
    // Around the configured 4000 MHz: the daily rhythm is at most 50 % deep, the noise 10 %.
    expect(v1.cpuDemandMhz).toBeGreaterThan(4000 * 0.4);
    expect(v1.cpuDemandMhz).toBeLessThan(4000 * 1.7);
    const [baseline] = await db.query(`SELECT baseline_cpu_mhz AS cpu, baseline_memory_mb AS mem FROM metric_series WHERE vm_id = 'sim-v1'`);
    expect(baseline).toEqual({ cpu: 4000, mem: 6000 });
    // The powered-off VM has no samples and keeps its figures.
    expect(await demand('sim-off')).toMatchObject({ cpuDemandMhz: 2000, memoryActiveMb: 8000 });
  });

  it('is deterministic: the same seed and times give the same samples', async () => {
    const other = await createTestApp({ METRICS_INTERVAL_SECONDS: '0' });
    try {
      await other.http.post('/api/v1/clusters/import').send(cluster).expect(201);
      for (let k = 0; k <= 30; k++) await other.app.get(MetricsCollector).collect('sim', at(k));
      expect(await (async () => (await other.http.get('/api/v1/vms/sim-v1').expect(200)).body.cpuDemandMhz)()).toBeCloseTo((await demand('sim-v1')).cpuDemandMhz, 3);
    } finally {
      await other.close();
    }
  });

  it('a VM without fresh samples keeps its last value', async () => {
    const before = await demand('sim-v3');
    // The simulated source measures only powered-on VMs: powered off, sim-v3 gets no more samples.
    await db.query(`UPDATE vms SET power_state = 'off' WHERE id = 'sim-v3'`);
    for (let k = 31; k <= 60; k++) await collector.collect('sim', at(k));
    expect(await demand('sim-v3')).toEqual(expect.objectContaining({ cpuDemandMhz: before.cpuDemandMhz, memoryActiveMb: before.memoryActiveMb }));
    const [series] = await db.query(`SELECT last_sample_at AS at FROM metric_series WHERE vm_id = 'sim-v3'`);
    expect(series.at.getTime()).toBe(at(30).getTime());
    await db.query(`UPDATE vms SET power_state = 'on' WHERE id = 'sim-v3'`);
  });

  it('a source that fails is recorded with the start of its streak, shown in the status, logged once per streak, and nothing else changes', async () => {
    const logged: string[] = [];
    const keep = (message: unknown) => logged.push(String(message));
    const error = Logger.prototype.error;
    const log = Logger.prototype.log;
    jest.spyOn(Logger.prototype, 'error').mockImplementation(function (this: Logger, message: unknown, ...rest: unknown[]) {
      keep(message);
      return error.call(this, message, ...rest);
    });
    jest.spyOn(Logger.prototype, 'log').mockImplementation(function (this: Logger, message: unknown, ...rest: unknown[]) {
      keep(message);
      return log.call(this, message, ...rest);
    });
    try {
      await t.http.patch('/api/v1/clusters/sim').send({ metricsSource: 'libvirt' }).expect(200);
      const before = await demand('sim-v1');
      const first = await collector.collect('sim', at(100));
      expect(first).toMatchObject({ outcome: 'failed', source: 'libvirt', error: expect.stringContaining('libvirt') });
      await collector.collect('sim', at(101));
      await collector.collect('sim', at(102));
      const [state] = await db.query(`SELECT failing_since, error FROM metrics_collections WHERE cluster_id = 'sim'`);
      expect(state.failing_since.getTime()).toBe(at(100).getTime());
      const { metrics } = (await t.http.get('/api/v1/clusters/sim/status').expect(200)).body;
      expect(metrics).toMatchObject({ source: 'libvirt', failingSince: at(100).toISOString(), error: state.error, lastAttemptAt: at(102).toISOString() });
      expect((await demand('sim-v1')).cpuDemandMhz).toBe(before.cpuDemandMhz);
      // Three failing collections, one line.
      expect(logged.filter((line) => line.startsWith('metrics of cluster sim (libvirt) fail: '))).toHaveLength(1);
      await t.http.patch('/api/v1/clusters/sim').send({ metricsSource: null }).expect(200);
      expect(await collector.collect('sim', at(103))).toMatchObject({ outcome: 'collected' });
      const [after] = await db.query(`SELECT failing_since, error FROM metrics_collections WHERE cluster_id = 'sim'`);
      expect(after).toEqual({ failing_since: null, error: null });
      expect((await t.http.get('/api/v1/clusters/sim/status').expect(200)).body.metrics).toMatchObject({ failingSince: null, error: null });
      expect(logged.filter((line) => line.startsWith('metrics of cluster sim (simulated) work again'))).toHaveLength(1);
    } finally {
      jest.restoreAllMocks();
    }
  });
});

describe('two schedulers', () => {
  it('in two instances on one database, one collects a cluster at a time and the other skips it', async () => {
    const sibling = await createSiblingApp(t);
    try {
      const outcomes = await Promise.all([collector.collect('sim', at(200)), sibling.app.get(MetricsCollector).collect('sim', at(200))]);
      expect(outcomes.map((o) => o.outcome).sort()).toEqual(expect.arrayContaining(['collected']));
      expect(outcomes.filter((o) => o.outcome === 'collected')).toHaveLength(1);
      const [{ count }] = await db.query(`SELECT count(*)::int AS count FROM metric_samples WHERE at = $1`, [at(200)]);
      expect(count).toBe(5);
    } finally {
      await sibling.close();
    }
  });

  it('two scheduler processes on a timer never store two samples of a VM for one interval', async () => {
    await db.query(`DELETE FROM metric_samples`);
    const env = { ...t.env, BALLAST_ROLES: 'scheduler', METRICS_INTERVAL_SECONDS: '1' };
    const ready = /roles scheduler/;
    const [a, b] = await Promise.all([startService(env, ready, 60000), startService(env, ready, 60000)]);
    try {
      await waitFor(async () => {
        const [{ count }] = await db.query(`SELECT count(*)::int AS count FROM metric_samples m JOIN metric_series s ON s.id = m.series_id WHERE s.vm_id = 'sim-v1'`);
        return count >= 6;
      }, 90000, 'six collections');
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${a.output()}\n${b.output()}`, { cause: error });
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    const times: { at: Date }[] = await db.query(`SELECT m.at FROM metric_samples m JOIN metric_series s ON s.id = m.series_id WHERE s.vm_id = 'sim-v1' ORDER BY m.at`);
    for (let i = 1; i < times.length; i++) expect(times[i].at.getTime() - times[i - 1].at.getTime()).toBeGreaterThanOrEqual(800);
  }, 180000);
});
