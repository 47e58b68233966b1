import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { verify } from '../src/notifications/signature.js';
import { EvaluationService } from '../src/closedloop/evaluation.service.js';
import { evacuationCluster, testCluster } from './support/clusters.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

const SECRET = 'a-shared-secret-of-the-receiver';
let t: TestApp;
let receiver: Server;
let base: string;
const received: Received[] = [];
let flakyCalls = 0;

beforeAll(async () => {
  // A receiver of our own: /flaky fails twice then takes it, /down always fails, /ok takes everything.
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body });
      if (req.url === '/flaky') flakyCalls += 1;
      const status = req.url === '/down' ? 500 : req.url === '/flaky' && flakyCalls <= 2 ? 503 : 200;
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  t = await createTestApp({ SIM_TIME_SCALE: '0', SIM_FAULTS: 'vm:w-vm001,vm:s-vm001', WEBHOOK_ATTEMPTS: '3', MIGRATION_ATTEMPTS: '1' });
});

afterAll(async () => {
  await t?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

async function subscribe(path: string, events: string[], secret = SECRET): Promise<string> {
  const res = await t.http.post('/api/v1/webhooks').send({ url: `${base}${path}`, events, secret }).expect(201);
  return res.body.id;
}

async function deliveries(webhookId: string) {
  return (await t.http.get(`/api/v1/webhooks/${webhookId}/deliveries`).expect(200)).body.items as {
    state: string;
    event: string;
    attempts: number;
    lastStatus: number | null;
    attemptLog: { status: number | null; error: string | null }[];
    payload: Record<string, unknown>;
  }[];
}

async function untilSettled(webhookId: string, count = 1) {
  return waitFor(async () => {
    const items = await deliveries(webhookId);
    return items.length >= count && items.every((d) => d.state !== 'pending') ? items : null;
  }, 60000, `deliveries of ${webhookId} to settle`);
}

describe('webhooks', () => {
  it('refuses bad subscriptions and unknown ids, and never shows the secret again', async () => {
    const bad = async (body: Record<string, unknown>, field: string) =>
      expect((await t.http.post('/api/v1/webhooks').send(body).expect(400)).body.errors[0].field).toBe(field);
    await bad({ url: `${base}/ok`, events: ['vm.exploded'] }, 'body.events[0]');
    await bad({ url: `${base}/ok`, events: [] }, 'body.events');
    await bad({ url: 'ftp://example.com/x', events: ['migration.failed'] }, 'body.url');
    await bad({ url: `${base}/ok`, events: ['migration.failed'], secret: 'short' }, 'body.secret');
    await bad({ url: `${base}/ok`, events: ['migration.failed'], colour: 'red' }, 'body.colour');
    expect((await t.http.get('/api/v1/webhooks').expect(200)).body.total).toBe(0);

    const created = await t.http.post('/api/v1/webhooks').send({ url: `${base}/ok`, events: ['host.failed'] }).expect(201);
    expect(created.body.secret).toMatch(/^[0-9a-f]{64}$/);
    const shown = await t.http.get(`/api/v1/webhooks/${created.body.id}`).expect(200);
    expect(shown.body).toEqual({ id: created.body.id, url: `${base}/ok`, events: ['host.failed'], description: null, createdAt: expect.any(String) });
    await t.http.delete(`/api/v1/webhooks/${created.body.id}`).expect(204);
    await t.http.get(`/api/v1/webhooks/${created.body.id}`).expect(404);
    await t.http.get('/api/v1/webhooks/not-a-uuid/deliveries').expect(404);
    await t.http.delete('/api/v1/webhooks/00000000-0000-4000-8000-000000000000').expect(404);
  });

  it('delivers a failed migration, signed, retrying until the receiver takes it; each attempt is recorded', async () => {
    const flaky = await subscribe('/flaky', ['migration.failed']);
    const down = await subscribe('/down', ['migration.failed']);
    const other = await subscribe('/ok', ['host.failed']);
    await t.http.post('/api/v1/clusters/import').send(evacuationCluster({ id: 'w', vms: 3, hosts: 3 })).expect(201);
    const plan = await t.http.post('/api/v1/clusters/w/plans').send({}).expect(201);
    await t.http.post(`/api/v1/plans/${plan.body.id}/approve`).send({}).expect(202);

    const [delivered] = await untilSettled(flaky);
    expect(delivered).toMatchObject({ state: 'delivered', event: 'migration.failed', attempts: 3, lastStatus: 200 });
    expect(delivered.attemptLog.map((a) => a.status)).toEqual([503, 503, 200]);
    expect(delivered.payload).toMatchObject({ event: 'migration.failed', clusterId: 'w', vmId: 'w-vm001', sourceHostId: 'w-h1', migrationId: expect.any(String) });

    const calls = received.filter((r) => r.path === '/flaky');
    expect(calls).toHaveLength(3);
    for (const call of calls) {
      expect(call.headers['x-ballast-event']).toBe('migration.failed');
      const timestamp = String(call.headers['x-ballast-timestamp']);
      expect(verify(SECRET, timestamp, call.body, String(call.headers['x-ballast-signature']))).toBe(true);
      expect(verify('another-secret-entirely', timestamp, call.body, String(call.headers['x-ballast-signature']))).toBe(false);
      expect(JSON.parse(call.body)).toEqual(delivered.payload);
    }

    const [gaveUp] = await untilSettled(down);
    expect(gaveUp).toMatchObject({ state: 'failed', attempts: 3, lastStatus: 500 });
    expect(gaveUp.attemptLog.map((a) => a.error)).toEqual(['answered 500', 'answered 500', 'answered 500']);
    const failedOnly = await t.http.get(`/api/v1/webhooks/${down}/deliveries?state=failed`).expect(200);
    expect(failedOnly.body.total).toBe(1);
    await t.http.get(`/api/v1/webhooks/${down}/deliveries?state=lost`).expect(400);
    // Not subscribed to migration.failed: nothing sent.
    expect(await deliveries(other)).toEqual([]);
  });

  it("delivers the closed loop's recommendation of a manual cluster with its plan", async () => {
    const hook = await subscribe('/ok', ['recommendation.proposed']);
    const cluster = testCluster('r', { vmsPerHost: [30, 0] });
    cluster.policy = { ...cluster.policy, migrationThreshold: 5, holdMinutes: 0 };
    await t.http.post('/api/v1/clusters/import').send(cluster).expect(201);
    const outcome = await t.app.get(EvaluationService).evaluate('r');
    expect(outcome).toMatchObject({ outcome: 'evaluated', started: 0, recommended: expect.any(Number) });
    expect(outcome.recommended).toBeGreaterThan(0);
    const plan = (await t.http.get(`/api/v1/plans/${outcome.planId}`).expect(200)).body;
    expect(plan.status).toBe('proposed');
    const [delivered] = await untilSettled(hook);
    expect(delivered).toMatchObject({
      state: 'delivered',
      attempts: 1,
      payload: { event: 'recommendation.proposed', clusterId: 'r', planId: plan.id, moves: outcome.recommended, imbalanceBefore: plan.plan.imbalanceBefore, imbalanceAfter: plan.plan.imbalanceAfter },
    });
  });

  it('delivers a degraded host with what the health report did to it', async () => {
    const hook = await subscribe('/ok', ['host.degraded']);
    await t.http.post('/api/v1/clusters/import').send(testCluster('d', { vmsPerHost: [2, 2] })).expect(201);
    await t.http.post('/api/v1/hosts/d-h1/health').send({ severity: 'moderate', detail: 'fan 2 failed' }).expect(200);
    const [delivered] = await untilSettled(hook);
    expect(delivered).toMatchObject({
      state: 'delivered',
      event: 'host.degraded',
      payload: { event: 'host.degraded', clusterId: 'd', hostId: 'd-h1', severity: 'moderate', detail: 'fan 2 failed', action: 'quarantine', hostState: 'quarantine' },
    });
    // A healthy report lifts the quarantine: nothing degraded, nothing sent.
    await t.http.post('/api/v1/hosts/d-h1/health').send({ severity: 'healthy' }).expect(200);
    expect((await t.http.get('/api/v1/hosts/d-h1').expect(200)).body.state).toBe('connected');
    expect(await deliveries(hook)).toHaveLength(1);
  });

  it('delivers a stalled maintenance with its reasons', async () => {
    const hook = await subscribe('/ok', ['maintenance.stalled']);
    await t.http.post('/api/v1/clusters/import').send(testCluster('s', { vmsPerHost: [2, 0, 0] })).expect(201);
    const op = await t.http.post('/api/v1/hosts/s-h1/maintenance').send({ timeoutSeconds: 1 }).expect(202);
    const [delivered] = await untilSettled(hook);
    expect(delivered.payload).toMatchObject({ event: 'maintenance.stalled', clusterId: 's', hostId: 's-h1', operationId: op.body.id });
    expect(delivered.payload.reasons).toEqual([expect.objectContaining({ vmId: 's-vm001' })]);
  });
});
