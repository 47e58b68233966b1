import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { loadConfig } from '../src/config/config.js';
import { MetricsCollector } from '../src/metrics/collector.js';
import { MetricsSourceError } from '../src/metrics/metrics-source.js';
import { prometheusOptions } from '../src/metrics/metrics.module.js';
import { matchLabel, PrometheusMetricsSource } from '../src/metrics/sources/prometheus-source.js';
import { host, snapshot, vm } from './support/builders.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';
import { freePort } from './support/free-port.js';

/**
 * The prometheus source against a real Prometheus (Debian's), started here on a loopback port with
 * a config written here, scraping an exporter served here every second: the series of
 * prometheus-libvirt-exporter for two VMs and a stranger, and node_exporter's for two hosts (one
 * of which fails its scrapes).
 */
const UUID_VM = '6f1c2b9e-0c1d-4d47-9a5e-1b2c3d4e5f60';
const GIB = 1024 ** 3;
let dir: string;
let exporter: Server;
let prometheus: ChildProcess;
let prometheusUrl: string;
let t: TestApp;
let db: DataSource;
const started = Date.now();

function exposition(path: string): string | null {
  const seconds = (Date.now() - started) / 1000;
  if (path === '/libvirt') {
    const domain = (name: string, uuid: string, cpus: number, memory: number) => [
      `libvirt_domain_info_cpu_time_seconds_total{domain="${name}",uuid="${uuid}"} ${100 + cpus * seconds}`,
      `libvirt_domain_info_memory_usage_bytes{domain="${name}",uuid="${uuid}"} ${memory}`,
      `libvirt_domain_info_maximum_memory_bytes{domain="${name}",uuid="${uuid}"} ${8 * GIB}`,
    ];
    return [
      '# TYPE libvirt_domain_info_cpu_time_seconds_total counter',
      ...domain('pr-v1', 'a0000000-0000-4000-8000-000000000001', 1.5, 2 * GIB),
      ...domain('guest-by-uuid', UUID_VM, 0.5, 1 * GIB),
      ...domain('stranger', 'a0000000-0000-4000-8000-000000000099', 3, 4 * GIB),
      'libvirt_up 1',
      '',
    ].join('\n');
  }
  if (path === '/node/pr-h1') {
    return [
      '# TYPE node_cpu_seconds_total counter',
      ...Array.from({ length: 16 }, (_, cpu) => [
        `node_cpu_seconds_total{cpu="${cpu}",mode="idle"} ${1000 + seconds * (cpu < 10 ? 0 : 1)}`,
        `node_cpu_seconds_total{cpu="${cpu}",mode="user"} ${500 + seconds * (cpu < 10 ? 1 : 0)}`,
      ]).flat(),
      `node_memory_MemTotal_bytes ${64 * GIB}`,
      `node_memory_MemAvailable_bytes ${40 * GIB}`,
      '',
    ].join('\n');
  }
  return null;
}


beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ballast-prometheus-'));
  exporter = createServer((request, response) => {
    const body = exposition(request.url ?? '');
    if (body === null) {
      response.writeHead(500).end('exporter broken');
      return;
    }
    response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body);
  });
  await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
  const target = `127.0.0.1:${(exporter.address() as { port: number }).port}`;
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      `  - { job_name: libvirt, metrics_path: /libvirt, static_configs: [{ targets: ['${target}'] }] }`,
      '  - job_name: node',
      '    static_configs:',
      `      - { targets: ['${target}'], labels: { ballast_host: pr-h1, __metrics_path__: /node/pr-h1 } }`,
      `      - { targets: ['${target}'], labels: { ballast_host: pr-h2, __metrics_path__: /node/pr-h2 } }`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(
    'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: 'ignore' },
  );
  await waitFor(async () => (await fetch(`${prometheusUrl}/-/ready`).catch(() => null))?.ok, 30000, 'Prometheus to be ready');

  t = await createTestApp({ PROMETHEUS_URL: prometheusUrl });
  db = t.app.get<DataSource>(getDataSourceToken());
  const cluster = snapshot({
    clusterId: 'prom',
    hosts: [host('pr-h1'), host('pr-h2')],
    vms: [vm('pr-v1', 'pr-h1'), vm(UUID_VM, 'pr-h2'), vm('pr-quiet', 'pr-h2')],
  });
  await t.http.post('/api/v1/clusters/import').send(cluster).expect(201);
  await t.http.patch('/api/v1/clusters/prom').send({ metricsSource: 'prometheus' }).expect(200);
}, 60000);

afterAll(async () => {
  await t?.close();
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((resolve) => prometheus.on('exit', resolve));
    prometheus.kill('SIGTERM');
    await exited;
  }
  await new Promise((resolve) => exporter?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

async function latest(subject: string): Promise<{ cpu: number | null; mem: number | null } | undefined> {
  const [row] = await db.query(
    `SELECT m.cpu_mhz AS cpu, m.memory_mb AS mem FROM metric_samples m JOIN metric_series s ON s.id = m.series_id
     WHERE s.vm_id = $1 OR s.host_id = $1 ORDER BY m.at DESC LIMIT 1`,
    [subject],
  );
  return row;
}

describe('the prometheus source', () => {
  it('reads the default queries over libvirt-exporter and node_exporter series, matching VMs by uuid or domain and hosts by label', async () => {
    const collector = t.app.get(MetricsCollector);
    // rate() needs two scrapes in its window: ask until both VMs answer.
    await waitFor(async () => {
      const outcome = await collector.collect('prom', new Date());
      return outcome.outcome === 'collected' && outcome.samples === 4 && (await latest('pr-h1'))?.cpu !== null;
    }, 30000, 'the VMs and hosts in Prometheus');
    const v1 = await latest('pr-v1');
    expect(v1!.cpu).toBeGreaterThan(1.5 * 2600 * 0.9);
    expect(v1!.cpu).toBeLessThan(1.5 * 2600 * 1.1);
    expect(v1!.mem).toBe(2048);
    const byUuid = await latest(UUID_VM);
    expect(byUuid!.cpu).toBeGreaterThan(0.5 * 2600 * 0.9);
    expect(byUuid!.cpu).toBeLessThan(0.5 * 2600 * 1.1);
    expect(byUuid!.mem).toBe(1024);
    // Ten busy CPUs of sixteen; 64 GiB of which 40 available.
    const h1 = await latest('pr-h1');
    expect(h1!.cpu).toBeGreaterThan(10 * 2600 * 0.9);
    expect(h1!.cpu).toBeLessThan(10 * 2600 * 1.1);
    expect(h1!.mem).toBe(24 * 1024);
    // pr-h2's scrapes fail: it did not answer, and is stored without figures. pr-quiet has no series.
    expect(await latest('pr-h2')).toEqual({ cpu: null, mem: null });
    expect(await latest('pr-quiet')).toBeUndefined();
    // The stranger domain is in no cluster: nothing of it is stored.
    const [{ count }] = await db.query(`SELECT count(*)::int AS count FROM metric_series s LEFT JOIN vms v ON v.id = s.vm_id WHERE s.vm_id IS NOT NULL AND v.id IS NULL`);
    expect(count).toBe(0);
  });

  it('fails with the reason when the server refuses a query or does not answer', async () => {
    const options = prometheusOptions(loadConfig({ PROMETHEUS_URL: prometheusUrl }));
    const target = { clusterId: 'prom', hosts: [], vms: [] };
    const refusing = new PrometheusMetricsSource({ ...options, queries: { ...options.queries, vmCpuMhz: 'rate(libvirt_domain_info_cpu_time_seconds_total' } });
    await expect(refusing.collect(target, new Date())).rejects.toThrow(/prometheus: query "rate\(libvirt_domain_info_cpu_time_seconds_total" refused: .*parse error/);
    const ranged = new PrometheusMetricsSource({ ...options, queries: { ...options.queries, vmMemoryMb: 'libvirt_domain_info_memory_usage_bytes[1m]' } });
    await expect(ranged.collect(target, new Date())).rejects.toThrow('must answer an instant vector, got a matrix');
    const closed = `http://127.0.0.1:${await freePort()}`;
    const absent = new PrometheusMetricsSource({ ...options, url: closed });
    await expect(absent.collect(target, new Date())).rejects.toThrow(MetricsSourceError);
    await expect(absent.collect(target, new Date())).rejects.toThrow(`no answer from ${closed} (ECONNREFUSED)`);
    // A server that takes the connection and never answers.
    const sockets: Socket[] = [];
    const mute = createNetServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    try {
      const muteUrl = `http://127.0.0.1:${(mute.address() as { port: number }).port}`;
      const silent = new PrometheusMetricsSource({ ...options, url: muteUrl, timeoutMs: 300 });
      await expect(silent.collect(target, new Date())).rejects.toThrow(`no answer from ${muteUrl} (TimeoutError)`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => mute.close(resolve));
    }
  });

  it('matches a label value, and a host by its instance without the port', () => {
    const ids = new Set(['esx-1', 'vm-1']);
    expect(matchLabel({ uuid: 'x', domain: 'vm-1' }, ['uuid', 'domain'], ids, false)).toBe('vm-1');
    expect(matchLabel({ instance: 'esx-1:9100' }, ['ballast_host', 'instance'], ids, true)).toBe('esx-1');
    expect(matchLabel({ instance: 'esx-1:9100' }, ['instance'], ids, false)).toBeNull();
    expect(matchLabel({ domain: 'other' }, ['uuid', 'domain'], ids, false)).toBeNull();
  });
});
