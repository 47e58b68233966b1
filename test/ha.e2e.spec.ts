import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CLOCK, type Clock } from '../src/closedloop/clock.js';
import { incidentsTable } from '../src/cli/commands/incidents.js';
import { statusTable } from '../src/cli/commands/status.js';
import { EvaluationScheduler, evaluationJobId } from '../src/closedloop/evaluation-scheduler.js';
import { EvaluationService } from '../src/closedloop/evaluation.service.js';
import { MIGRATION_ENGINE, type MigrationEngine } from '../src/engine/migration-engine.js';
import { host, snapshot, vm, vmsOn } from './support/builders.js';
import { runNode } from './support/run-node.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

/**
 * A failed host end to end: the push source stops hearing of ha-1, the evaluation finds it failed
 * past the grace period (the test's clock), its VMs go down, HA restarts them by priority on the
 * healthy hosts (a must anti-affinity rule and the memory there decide where) through the
 * simulated engine's restart, webhooks go out, the status shows the incident; then ha-1 answers
 * again and nothing is restarted twice.
 */
let t: TestApp;
let receiver: Server;
let base: string;
let offsetMs = 0;
const received: { event: string; body: Record<string, unknown> }[] = [];
const SEC = 1000;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ event: String(req.headers['x-ballast-event']), body: JSON.parse(body) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  t = await createTestApp({ SIM_TIME_SCALE: '0', MIGRATION_ATTEMPTS: '1' });
  const clock = t.app.get<Clock>(CLOCK);
  clock.now = () => new Date(Date.now() + offsetMs);
  // 64 GB hosts: ha-2 and ha-3 have room for one more 16 GB VM each.
  const cluster = snapshot({
    clusterId: 'ha',
    hosts: [host('ha-1', { memoryCapacityMb: 65_536 }), host('ha-2', { memoryCapacityMb: 65_536 }), host('ha-3', { memoryCapacityMb: 65_536 })],
    vms: [
      vm('ha-lo', 'ha-1', { restartPriority: 'low' }),
      vm('ha-med', 'ha-1'),
      vm('ha-hi', 'ha-1', { restartPriority: 'high' }),
      vm('ha-never', 'ha-1', { restartPriority: 'disabled' }),
      ...vmsOn('ha-2', 3, 'ha-b'),
      ...vmsOn('ha-3', 3, 'ha-c'),
    ],
    rules: [{ id: 'hi-apart', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['ha-hi', 'ha-b-1'] }],
    policy: { automationLevel: 'manual', failedHostGraceSeconds: 60 },
  });
  await t.http.post('/api/v1/clusters/import').send(cluster).expect(201);
  await t.http.patch('/api/v1/clusters/ha').send({ metricsSource: 'push' }).expect(200);
  await t.http.post('/api/v1/webhooks').send({ url: `${base}/hooks`, events: ['host.failed', 'ha.restart'] }).expect(201);
});

afterAll(async () => {
  await t?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

const evaluate = () => t.app.get(EvaluationService).evaluate('ha');
const iso = (ms: number) => new Date(ms).toISOString();
const status = async () => (await t.http.get('/api/v1/clusters/ha/status').expect(200)).body.closedLoop;
const vmOf = async (id: string) => (await t.http.get(`/api/v1/vms/${id}`).expect(200)).body;
const hostState = async (id: string) => (await t.http.get(`/api/v1/hosts/${id}`).expect(200)).body.state;

async function push(hosts: string[], at: number) {
  const samples = hosts.map((hostId) => ({ hostId, at: iso(at), cpuMhz: 10_000, memoryMb: 40_000 }));
  await t.http.post('/api/v1/metrics').send({ samples }).expect(202);
}

async function restarts() {
  const items = (await t.http.get('/api/v1/migrations?clusterId=ha&kind=restart&limit=100').expect(200)).body.items as {
    vmId: string;
    sourceHostId: string;
    targetHostId: string;
    state: string;
    reason: string;
    moveIndex: number;
  }[];
  return items.sort((a, b) => a.moveIndex - b.moveIndex);
}

describe('a failed host', () => {
  it('is not failed within the grace period, nor while it answers', async () => {
    // The service's clock 30 s behind: ha-1, last heard 75 s ago, has been silent 45 s of its 60 s grace.
    offsetMs = -30 * SEC;
    const now = Date.now();
    await push(['ha-1'], now - 75 * SEC);
    await push(['ha-2', 'ha-3'], now);
    const outcome = await evaluate();
    expect(outcome.restarts).toBe(0);
    expect(await hostState('ha-1')).toBe('connected');
  });

  it('past the grace period: failed, its VMs down, an incident, host.failed; HA restarts by priority where rules and room allow', async () => {
    offsetMs = 0; // ha-1 last heard 75 s ago
    await push(['ha-2', 'ha-3'], Date.now());
    const outcome = await evaluate();
    expect(outcome.summary).toMatch(/ha-1 failed \(no sample from ha-1 or its VMs for 7\d s \(grace 60 s\)/);
    expect(outcome.restarts).toBe(2);
    expect(await hostState('ha-1')).toBe('failed');

    // High first, to the only host its anti-affinity rule allows; medium into the room left; low finds none.
    const planned = await restarts();
    expect(planned.map((m) => [m.vmId, m.sourceHostId, m.targetHostId, m.reason])).toEqual([
      ['ha-hi', 'ha-1', 'ha-3', 'ha-restart'],
      ['ha-med', 'ha-1', 'ha-2', 'ha-restart'],
    ]);
    await waitFor(async () => ((await restarts()).every((m) => m.state === 'succeeded') ? true : null), 60_000, 'the restarts to succeed');
    expect((await vmOf('ha-hi')).hostId).toBe('ha-3');
    expect((await vmOf('ha-med')).hostId).toBe('ha-2');
    expect((await vmOf('ha-hi')).downSince).toBeUndefined();
    expect((await vmOf('ha-lo')).downSince).toEqual(expect.any(String));
    expect((await vmOf('ha-never')).hostId).toBe('ha-1');
    const engine = t.app.get<MigrationEngine>(MIGRATION_ENGINE);
    expect(await engine.locate('ha-hi')).toMatchObject({ hostId: 'ha-3', running: true });

    const seen = await status();
    expect(seen.failedHosts).toEqual(['ha-1']);
    expect(seen.incidents).toHaveLength(1);
    const [incident] = seen.incidents;
    expect(incident).toMatchObject({ kind: 'host-failed', hostId: 'ha-1', vmIds: ['ha-hi', 'ha-lo', 'ha-med', 'ha-never'], stillDown: ['ha-lo', 'ha-never'] });
    expect(incident.unplaced.map((u: { vmId: string }) => u.vmId).sort()).toEqual(['ha-lo', 'ha-never']);
    expect(incident.actions.map((a: { action: string }) => a.action)).toEqual(['host-failed', 'vms-down', 'restart-planned', 'restart-planned']);
    const table = statusTable((await t.http.get('/api/v1/clusters/ha/status').expect(200)).body);
    expect(table).toMatch(/^incident: ha-1 failed since \d\d:\d\d:\d\d: 4 VMs went down, 2 still down, 2 cannot be restarted now$/m);
    expect(table).toMatch(/^ha-1 +failed /m);

    const events = await waitFor(async () => {
      const got = received.filter((r) => r.event === 'host.failed' || r.event === 'ha.restart');
      return got.length >= 3 ? got : null;
    }, 60_000, 'host.failed and two ha.restart deliveries');
    expect(events.find((e) => e.event === 'host.failed')?.body).toMatchObject({ clusterId: 'ha', hostId: 'ha-1', vmsDown: ['ha-hi', 'ha-lo', 'ha-med', 'ha-never'], haRestart: true });
    const restarted = events.filter((e) => e.event === 'ha.restart').map((e) => e.body);
    expect(restarted.map((b) => [b.vmId, b.fromHostId, b.toHostId]).sort()).toEqual([
      ['ha-hi', 'ha-1', 'ha-3'],
      ['ha-med', 'ha-1', 'ha-2'],
    ]);
  });

  it('a later evaluation restarts nothing twice', async () => {
    await push(['ha-2', 'ha-3'], Date.now());
    const outcome = await evaluate();
    expect(outcome.restarts).toBe(0);
    expect(outcome.summary).toMatch(/2 down VMs cannot be restarted now/);
    expect(await restarts()).toHaveLength(2);
  });

  it('answering again: connected, incident closed, restarted VMs stay where they run, the others are up on it', async () => {
    await push(['ha-1', 'ha-2', 'ha-3'], Date.now());
    const scheduler = t.app.get(EvaluationScheduler);
    await scheduler.queue.remove(evaluationJobId('ha'));
    await scheduler.enqueueDue();
    expect((await scheduler.queue.getJob(evaluationJobId('ha')))?.data).toEqual({ clusterId: 'ha', hot: true });
    await scheduler.queue.remove(evaluationJobId('ha'));
    const outcome = await evaluate();
    expect(outcome.summary).toMatch(/ha-1 answered again .*: connected again; 2 VMs restarted elsewhere stay there, 2 found running on it/);
    expect(await hostState('ha-1')).toBe('connected');
    expect((await vmOf('ha-hi')).hostId).toBe('ha-3');
    expect((await vmOf('ha-med')).hostId).toBe('ha-2');
    for (const id of ['ha-lo', 'ha-never']) {
      const v = await vmOf(id);
      expect(v.hostId).toBe('ha-1');
      expect(v.downSince).toBeUndefined();
    }
    expect((await status()).incidents).toEqual([]);
    expect((await status()).failedHosts).toEqual([]);
    await evaluate();
    expect(await restarts()).toHaveLength(2);
    expect(received.filter((r) => r.event === 'ha.restart')).toHaveLength(2);
  });
});

describe('restartPriority and operators', () => {
  it('is an optional VM field of the API and the snapshot format, checked like the others', async () => {
    const bad = await t.http.post('/api/v1/vms').send(vm('ha-x', 'ha-2', { restartPriority: 'urgent' as never })).expect(400);
    expect(bad.body.errors[0]).toMatchObject({ field: 'body.restartPriority' });
    await t.http.patch('/api/v1/vms/ha-b-2').send({ restartPriority: 'low' }).expect(200);
    const exported = (await t.http.get('/api/v1/clusters/ha/snapshot').expect(200)).body;
    const byId = new Map(exported.vms.map((v: { id: string; restartPriority?: string }) => [v.id, v.restartPriority]));
    expect(byId.get('ha-hi')).toBe('high');
    expect(byId.get('ha-b-2')).toBe('low');
    expect(byId.get('ha-med')).toBeUndefined();
  });

  // After the tests above every host has answered once, so a silent one can fail.
  it('an operator who sets a failed host connected ends its incident; the VMs the engine finds on it are up', async () => {
    // A short grace period: ha-2 falls silent for real while ha-1 and ha-3 keep answering.
    await t.http.patch('/api/v1/clusters/ha').send({ policy: { failedHostGraceSeconds: 5 } }).expect(200);
    await new Promise((resolve) => setTimeout(resolve, 6 * SEC));
    await push(['ha-1', 'ha-3'], Date.now());
    // The scheduler's tick finds the silent host and puts the cluster on the queue at once.
    const scheduler = t.app.get(EvaluationScheduler);
    await scheduler.queue.remove(evaluationJobId('ha'));
    await scheduler.enqueueDue();
    expect((await scheduler.queue.getJob(evaluationJobId('ha')))?.data).toEqual({ clusterId: 'ha', hot: true });
    await scheduler.queue.remove(evaluationJobId('ha'));
    await evaluate(); // ha-2 failed: its VMs (ha-med, ha-b-*) are down, and HA places what fits
    expect(await hostState('ha-2')).toBe('failed');
    await waitFor(async () => ((await restarts()).every((m) => m.state !== 'pending' && m.state !== 'queued' && m.state !== 'running') ? true : null), 60_000, 'restarts to end');
    await scheduler.enqueueDue();
    expect(await scheduler.queue.getJob(evaluationJobId('ha'))).toBeUndefined(); // failed already: nothing new
    await t.http.patch('/api/v1/hosts/ha-2').send({ state: 'connected' }).expect(200);
    await push(['ha-1', 'ha-2', 'ha-3'], Date.now());
    const outcome = await evaluate();
    await t.http.patch('/api/v1/clusters/ha').send({ policy: { failedHostGraceSeconds: 60 } }).expect(200);
    expect(outcome.summary).toMatch(/ha-2 was set connected by an operator: connected again/);
    expect((await status()).incidents).toEqual([]);
    const down = (await t.http.get('/api/v1/vms?clusterId=ha&limit=100').expect(200)).body.items.filter((v: { downSince?: string }) => v.downSince);
    expect(down).toEqual([]);
    // ha-2's VMs: each restarted at most once for this failure.
    const perVm = new Map<string, number>();
    for (const m of await restarts()) if (m.state === 'succeeded' && m.sourceHostId === 'ha-2') perVm.set(m.vmId, (perVm.get(m.vmId) ?? 0) + 1);
    expect(perVm.size).toBeGreaterThan(0);
    expect(Math.max(...perVm.values())).toBe(1);
  });

  it("keeps the cluster's incidents after they end: newest first, filtered by state, paged", async () => {
    const all = (await t.http.get('/api/v1/clusters/ha/incidents').expect(200)).body;
    expect(all).toMatchObject({ total: 2, limit: 100, offset: 0 });
    expect(all.items.map((i: { hostId: string }) => i.hostId)).toEqual(['ha-2', 'ha-1']);
    const [second, first] = all.items;
    expect(Date.parse(first.endedAt)).toBeGreaterThan(Date.parse(first.startedAt));
    expect(first).toMatchObject({ kind: 'host-failed', vmIds: ['ha-hi', 'ha-lo', 'ha-med', 'ha-never'], stillDown: [] });
    expect(first.actions.map((a: { action: string }) => a.action)).toEqual(['host-failed', 'vms-down', 'restart-planned', 'restart-planned', 'found-running', 'found-running', 'host-returned']);
    expect(second.endedAt).not.toBeNull();
    expect((await t.http.get('/api/v1/clusters/ha/incidents?state=closed&limit=1&offset=1').expect(200)).body).toMatchObject({ total: 2, items: [{ id: first.id }] });
    expect((await t.http.get('/api/v1/clusters/ha/incidents?state=open').expect(200)).body).toMatchObject({ total: 0, items: [] });
    const bad = await t.http.get('/api/v1/clusters/ha/incidents?state=ended').expect(400);
    expect(bad.body.errors[0]).toMatchObject({ field: 'state' });
    const unknown = await t.http.get('/api/v1/clusters/no-such/incidents').expect(404);
    expect(unknown.body.message).toBe('cluster "no-such" does not exist');

    // ballast incidents: a line per incident, newest first.
    const table = incidentsTable(all).split('\n');
    expect(table[0]).toMatch(/^HOST +FAILED +ENDED +VMS +WHAT HA DID$/);
    expect(table[2]).toMatch(/^ha-1 +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +4 +2 restarts planned, 2 found running$/);
    const refused = await runNode('dist/src/cli/main.js', ['incidents', 'ha', '--state', 'ended'], { BALLAST_URL: 'http://127.0.0.1:9' }, 60_000);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe('ballast: --state: must be one of open, closed, got "ended"');
  });
});
