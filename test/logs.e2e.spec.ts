import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { hashKey } from '../src/auth/key-hash.js';
import { deleteKeysUnder } from '../src/redis/delete-keys.js';
import { testCluster } from './support/clusters.js';
import { type ServiceProcess, startService } from './support/run-node.js';
import { createTestDatabase } from './support/test-app.js';
import { waitFor } from './support/wait.js';

const SECRET_KEY = 'bk_do-not-log-me-0123456789';
const ADMIN_KEY = 'bk_admin-do-not-log-me-either-9876543210';
const READY = /API on http:\/\/localhost:(\d+)\/api\/v1/;

interface LogLine {
  level: string;
  time: string;
  msg: string;
  context?: string;
  requestId?: string;
  keyId?: string;
  clusterId?: string;
  migrationId?: string;
  planId?: string;
  [field: string]: unknown;
}

let database: { url: string; drop(): Promise<void> };
let service: ServiceProcess;
let api: string;
/** Every key this test sent: none of them, nor its hash, may appear in the output. */
const keysUsed = [SECRET_KEY, ADMIN_KEY];
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
      BALLAST_ADMIN_KEY: ADMIN_KEY,
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

  it('carry the request id (given or made) and the key\'s id, never the key', async () => {
    const given = await fetch(`${api}/api/v1/clusters?limit=5`, { headers: { 'X-Request-Id': 'req-given-42', Authorization: `Bearer ${ADMIN_KEY}` } });
    expect(given.status).toBe(200);
    expect(given.headers.get('x-request-id')).toBe('req-given-42');
    const made = await fetch(`${api}/api/v1/clusters/nope`, { headers: { Authorization: `Bearer ${SECRET_KEY}`, 'X-Api-Key': SECRET_KEY } });
    expect(made.status).toBe(401);
    const madeId = made.headers.get('x-request-id');
    expect(madeId).toMatch(/^[0-9a-f-]{36}$/);
    const request = await waitFor(async () => lines().find((l) => l.requestId === 'req-given-42' && l.msg === 'request'), 10000, 'the request line');
    expect(request).toMatchObject({ level: 'debug', method: 'GET', path: '/api/v1/clusters', status: 200, keyId: 'bootstrap' });
    const refused = await waitFor(async () => lines().find((l) => l.requestId === madeId && l.msg === 'request'), 10000, 'the 401 line');
    // An unknown key has no id: the line says who asked by no more than the route.
    expect(refused).toMatchObject({ status: 401, path: '/api/v1/clusters/nope' });
    expect(refused.keyId).toBeUndefined();
  });

  it('carry the key, cluster, plan and migration a request or a piece of work is about', async () => {
    const call = async (key: string, method: string, path: string, body?: unknown) => {
      const response = await fetch(`${api}${path}`, {
        method,
        headers: { Authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown>, requestId: response.headers.get('x-request-id')! };
    };
    const lineOf = (requestId: string) => waitFor(async () => lines().find((l) => l.requestId === requestId && l.msg === 'request'), 10000, `the line of request ${requestId}`);
    const created = await call(ADMIN_KEY, 'POST', '/api/v1/keys', { name: 'logs operator', role: 'operator' });
    expect(created.status).toBe(201);
    const operator = { id: created.body.id as string, key: created.body.key as string };
    keysUsed.push(operator.key);

    const cluster = testCluster('logs', { vmsPerHost: [30, 0] });
    cluster.policy.migrationThreshold = 5;
    expect((await call(ADMIN_KEY, 'POST', '/api/v1/clusters/import', cluster)).status).toBe(201);
    const planned = await call(operator.key, 'POST', '/api/v1/clusters/logs/plans', {});
    expect(planned.status).toBe(201);
    expect(await lineOf(planned.requestId)).toMatchObject({ keyId: operator.id, clusterId: 'logs', status: 201 });
    const planId = planned.body.id as string;
    const approved = await call(operator.key, 'POST', `/api/v1/plans/${planId}/approve`, {});
    expect(approved.status).toBe(202);
    expect(await lineOf(approved.requestId)).toMatchObject({ keyId: operator.id, planId, path: `/api/v1/plans/${planId}/approve`, status: 202 });
    const migrationId = (approved.body.migrationIds as string[])[0];
    const read = await call(ADMIN_KEY, 'GET', `/api/v1/migrations/${migrationId}`);
    expect(read.status).toBe(200);
    expect(await lineOf(read.requestId)).toMatchObject({ keyId: 'bootstrap', migrationId });
    // A refused request (403) names the key that tried: a viewer approving.
    const viewer = await call(ADMIN_KEY, 'POST', '/api/v1/keys', { name: 'logs viewer', role: 'viewer' });
    keysUsed.push(viewer.body.key as string);
    const forbidden = await call(viewer.body.key as string, 'POST', `/api/v1/plans/${planId}/reject`, {});
    expect(forbidden.status).toBe(403);
    expect(await lineOf(forbidden.requestId)).toMatchObject({ keyId: viewer.body.id, planId, status: 403 });

    const line = await waitFor(async () => lines().find((l) => l.migrationId === migrationId && l.msg === `migration ${migrationId} succeeded`), 20000, 'the migration\'s line');
    expect(line).toMatchObject({ clusterId: 'logs', context: 'MigrationWorker', vmId: expect.stringMatching(/^logs-vm/) });
  });

  it('hold no key material: no key or webhook secret this test sent, whole or hashed, in any line', async () => {
    const secret = 'whsec-do-not-log-this-secret-either-42';
    const subscribed = await fetch(`${api}/api/v1/webhooks`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ADMIN_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ url: 'http://127.0.0.1:9/hook', events: ['migration.failed'], secret }),
    });
    expect(subscribed.status).toBe(201);
    const requestId = subscribed.headers.get('x-request-id');
    await waitFor(async () => lines().find((l) => l.requestId === requestId && l.msg === 'request'), 10000, 'the webhook request line');
    keysUsed.push(secret);
    const output = service.output();
    for (const key of keysUsed) {
      expect(output).not.toContain(key);
      expect(output).not.toContain(key.slice(-16));
      expect(output).not.toContain(hashKey(key).toString('hex'));
      expect(output).not.toContain(hashKey(key).toString('base64'));
    }
    expect(output).not.toMatch(/Bearer /i);
  });
});
