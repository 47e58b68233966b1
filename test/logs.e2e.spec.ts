import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { deleteKeysUnder } from '../src/redis/delete-keys.js';
import { testCluster } from './support/clusters.js';
import { type ServiceProcess, startService } from './support/run-node.js';
import { createTestDatabase } from './support/test-app.js';
import { waitFor } from './support/wait.js';

const SECRET_KEY = 'bk_do-not-log-me-0123456789';
const READY = /API on http:\/\/localhost:(\d+)\/api\/v1/;

interface LogLine {
  level: string;
  time: string;
  msg: string;
  context?: string;
  requestId?: string;
  clusterId?: string;
  migrationId?: string;
  planId?: string;
  [field: string]: unknown;
}

let database: { url: string; drop(): Promise<void> };
let service: ServiceProcess;
let api: string;
const prefix = `ballast-test-logs-${process.pid}`;

function lines(): LogLine[] {
  return service
    .output()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as LogLine);
}

beforeAll(async () => {
  database = await createTestDatabase();
  service = await startService(
    {
      DATABASE_URL: database.url,
      REDIS_PREFIX: prefix,
      PORT: '0',
      BALLAST_DEMO: 'false',
      BALANCE_INTERVAL_SECONDS: '0',
      SIM_TIME_SCALE: '0',
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'debug',
    },
    READY,
  );
  api = `http://localhost:${READY.exec(service.output())![1]}`;
});

afterAll(async () => {
  await service?.stop();
  await database?.drop();
  await deleteKeysUnder(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix);
});

describe('structured logs', () => {
  it('are one JSON object a line, with the start-up lines the README shows, and Nest\'s own chatter at debug', () => {
    const all = lines();
    expect(all.every((l) => typeof l.time === 'string' && typeof l.msg === 'string' && ['debug', 'info', 'warn', 'error'].includes(l.level))).toBe(true);
    expect(all).toContainEqual(expect.objectContaining({ level: 'info', msg: expect.stringMatching(/^roles api,scheduler,worker; API on http:\/\/localhost:\d+\/api\/v1, docs on/) }));
    const routes = all.filter((l) => l.context === 'RouterExplorer');
    expect(routes.length).toBeGreaterThan(10);
    expect(routes.every((l) => l.level === 'debug')).toBe(true);
  });

  it('carry the request id (given or made) and never the caller\'s key', async () => {
    const given = await fetch(`${api}/api/v1/clusters?limit=5`, { headers: { 'X-Request-Id': 'req-given-42', Authorization: `Bearer ${SECRET_KEY}` } });
    expect(given.headers.get('x-request-id')).toBe('req-given-42');
    const made = await fetch(`${api}/api/v1/clusters/nope`, { headers: { 'X-Api-Key': SECRET_KEY } });
    const madeId = made.headers.get('x-request-id');
    expect(madeId).toMatch(/^[0-9a-f-]{36}$/);
    const request = await waitFor(async () => lines().find((l) => l.requestId === 'req-given-42' && l.msg === 'request'), 10000, 'the request line');
    expect(request).toMatchObject({ level: 'debug', method: 'GET', path: '/api/v1/clusters', status: 200 });
    await waitFor(async () => lines().find((l) => l.requestId === madeId && l.status === 404), 10000, 'the 404 line');
    expect(service.output()).not.toContain(SECRET_KEY);
  });

  it('carry the cluster, plan and migration a line is about', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${api}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const cluster = testCluster('logs', { vmsPerHost: [30, 0] });
    cluster.policy.migrationThreshold = 5;
    expect((await post('/api/v1/clusters/import', cluster)).status).toBe(201);
    const plan = (await (await post('/api/v1/clusters/logs/plans', {})).json()) as { id: string };
    const approval = (await (await post(`/api/v1/plans/${plan.id}/approve`, {})).json()) as { migrationIds: string[] };
    const migrationId: string = approval.migrationIds[0];
    const line = await waitFor(async () => lines().find((l) => l.migrationId === migrationId && l.msg === `migration ${migrationId} succeeded`), 20000, 'the migration\'s line');
    expect(line).toMatchObject({ clusterId: 'logs', context: 'MigrationWorker', vmId: expect.stringMatching(/^logs-vm/) });
  });
});
