import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { AuditRetention } from '../src/audit/audit-retention.js';
import { AUDITED_METHODS, AUDITED_ROUTES } from '../src/audit/audit-routes.js';
import type { AuditEventView } from '../src/audit/audit.service.js';
import { routeTable } from './support/route-table.js';
import { evacuationCluster, testCluster } from './support/clusters.js';
import { createTestApp, type TestApp } from './support/test-app.js';

const ADMIN_KEY = 'test-admin-key-audit-0123456789abcdefghijk';

type AuditEvent = Omit<AuditEventView, 'before' | 'after'> & { before: Record<string, unknown> | null; after: Record<string, unknown> | null };

type Key = { id: string; key: string; name: string };

let t: TestApp;
const keys = {} as Record<'admin' | 'operator' | 'viewer', Key>;
const as = (key: string) => ({ authorization: `Bearer ${key}` });

/** The audit trail's page for `query`, read with the admin key. */
async function audit(query: Record<string, string> = {}): Promise<{ items: AuditEvent[]; limit: number; nextCursor: string | null }> {
  const answer = await t.http.get('/api/v1/audit').query(query).set(as(keys.admin.key));
  expect([answer.status, answer.body.message]).toEqual([200, undefined]);
  return answer.body;
}

/** The newest row of a request, found by the route's pattern, its method and one of its target ids. */
async function newest(method: string, route: string, targetId?: string): Promise<AuditEvent> {
  const { items } = await audit({ method, route, ...(targetId ? { targetId } : {}), limit: '1' });
  expect([method, route, items.length]).toEqual([method, route, 1]);
  return items[0];
}

beforeAll(async () => {
  // Migrations complete at once: only the trail of who asked for them matters here.
  t = await createTestApp({ BALLAST_ADMIN_KEY: ADMIN_KEY, SIM_TIME_SCALE: '0' });
  for (const role of ['admin', 'operator', 'viewer'] as const) {
    const name = `audit ${role}`;
    const created = await t.http.post('/api/v1/keys').set(as(ADMIN_KEY)).send({ name, role }).expect(201);
    keys[role] = { id: created.body.id, key: created.body.key, name };
  }
});

afterAll(async () => {
  await t?.close();
});

describe('the audit trail records every change with who, what, when, the outcome, and the state before and after', () => {
  it('names every route that changes something (a new one must be added to AUDITED_ROUTES)', () => {
    const changing = routeTable(t.app)
      .filter((r) => (AUDITED_METHODS as readonly string[]).includes(r.method) && r.path.startsWith('/api/v1/'))
      .map((r) => `${r.method} ${r.path}`);
    expect(changing.length).toBeGreaterThan(20);
    expect(changing.filter((route) => !AUDITED_ROUTES[route])).toEqual([]);
  });

  it('records key creation and revocation: who, and the key before and after, never the key itself', async () => {
    const created = await newest('POST', '/api/v1/keys', keys.viewer.id);
    expect(created).toMatchObject({
      keyId: 'bootstrap',
      keyName: 'BALLAST_ADMIN_KEY',
      keyRole: 'admin',
      kind: 'key',
      action: 'create',
      status: 201,
      outcome: 'succeeded',
      targets: { apiKeyId: keys.viewer.id },
      before: null,
      after: { id: keys.viewer.id, name: keys.viewer.name, role: 'viewer', active: true },
      message: null,
    });
    expect(created.requestId).toEqual(expect.any(String));
    expect(Date.now() - Date.parse(created.at)).toBeLessThan(10 * 60_000);

    const spare = (await t.http.post('/api/v1/keys').set(as(keys.admin.key)).send({ name: 'spare', role: 'viewer' }).expect(201)).body;
    await t.http.delete(`/api/v1/keys/${spare.id}`).set(as(keys.admin.key)).expect(200);
    const revoked = await newest('DELETE', '/api/v1/keys/:id', spare.id);
    expect(revoked).toMatchObject({
      keyId: keys.admin.id,
      keyName: keys.admin.name,
      action: 'revoke',
      status: 200,
      before: { id: spare.id, active: true, revokedAt: null },
      after: { id: spare.id, active: false, revokedAt: expect.any(String) },
    });
    const trail = JSON.stringify((await audit({ targetId: spare.id })).items);
    expect(trail).toContain(spare.prefix);
    expect(trail).not.toContain(spare.key);
  });

  it('records cluster create, policy change, import, replace and delete with the state before and after', async () => {
    const admin = as(keys.admin.key);
    await t.http.post('/api/v1/clusters').set(admin).send({ id: 'a1', name: 'A1' }).expect(201);
    const created = await newest('POST', '/api/v1/clusters', 'a1');
    expect(created).toMatchObject({
      keyId: keys.admin.id,
      keyName: keys.admin.name,
      kind: 'cluster',
      action: 'create',
      targets: { clusterId: 'a1' },
      status: 201,
      before: null,
      after: { id: 'a1', name: 'A1', hostCount: 0, policy: { migrationThreshold: 3 } },
    });

    await t.http.patch('/api/v1/clusters/a1').set(admin).send({ name: 'A one', policy: { migrationThreshold: 5 } }).expect(200);
    const changed = await newest('PATCH', '/api/v1/clusters/:id', 'a1');
    expect(changed).toMatchObject({
      action: 'update',
      status: 200,
      before: { name: 'A1', policy: { migrationThreshold: 3 } },
      after: { name: 'A one', policy: { migrationThreshold: 5 } },
    });

    await t.http.post('/api/v1/clusters/import').set(admin).send(testCluster('imp', { vmsPerHost: [2, 0] })).expect(201);
    const imported = await newest('POST', '/api/v1/clusters/import', 'imp');
    expect(imported).toMatchObject({ action: 'import', status: 201, targets: { clusterId: 'imp' }, before: null, after: { id: 'imp', hostCount: 2, vmCount: 2 } });
    await t.http.post('/api/v1/clusters/import?replace=true').set(admin).send(testCluster('imp', { vmsPerHost: [1, 1, 1] })).expect(201);
    const replaced = await newest('POST', '/api/v1/clusters/import', 'imp');
    expect(replaced).toMatchObject({ before: { id: 'imp', hostCount: 2, vmCount: 2 }, after: { id: 'imp', hostCount: 3, vmCount: 3 } });

    await t.http.delete('/api/v1/clusters/a1').set(admin).expect(204);
    const deleted = await newest('DELETE', '/api/v1/clusters/:id', 'a1');
    expect(deleted).toMatchObject({ action: 'delete', status: 204, outcome: 'succeeded', before: { id: 'a1', name: 'A one' }, after: null });
  });

  it('records host, VM and rule changes with the state before and after', async () => {
    const admin = as(keys.admin.key);
    await t.http.patch('/api/v1/hosts/imp-h2').set(admin).send({ cpuCapacityMhz: 200000 }).expect(200);
    expect(await newest('PATCH', '/api/v1/hosts/:id', 'imp-h2')).toMatchObject({
      kind: 'host',
      action: 'update',
      targets: { hostId: 'imp-h2' },
      before: { id: 'imp-h2', cpuCapacityMhz: 100000 },
      after: { id: 'imp-h2', cpuCapacityMhz: 200000 },
    });

    await t.http.patch('/api/v1/vms/imp-vm001').set(admin).send({ cpuDemandMhz: 2500 }).expect(200);
    expect(await newest('PATCH', '/api/v1/vms/:id', 'imp-vm001')).toMatchObject({
      kind: 'vm',
      targets: { vmId: 'imp-vm001' },
      before: { cpuDemandMhz: 1000 },
      after: { cpuDemandMhz: 2500 },
    });

    const rule = { id: 'apart', clusterId: 'imp', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['imp-vm001', 'imp-vm002'] };
    await t.http.post('/api/v1/rules').set(admin).send(rule).expect(201);
    expect(await newest('POST', '/api/v1/rules', 'apart')).toMatchObject({ kind: 'rule', action: 'create', targets: { ruleId: 'apart' }, before: null, after: rule });
    await t.http.delete('/api/v1/rules/apart').set(admin).expect(204);
    expect(await newest('DELETE', '/api/v1/rules/:id', 'apart')).toMatchObject({ action: 'delete', before: rule, after: null });
  });

  it('records plans, approvals and maintenance with the key of the operator who asked', async () => {
    await t.http.post('/api/v1/clusters/import').set(as(ADMIN_KEY)).send(evacuationCluster({ id: 'ops', vms: 2, hosts: 2 })).expect(201);
    const operator = as(keys.operator.key);
    const plan = (await t.http.post('/api/v1/clusters/ops/plans').set(operator).send({}).expect(201)).body;
    expect(await newest('POST', '/api/v1/clusters/:id/plans', plan.id)).toMatchObject({
      keyId: keys.operator.id,
      keyName: keys.operator.name,
      keyRole: 'operator',
      kind: 'plan',
      action: 'create',
      targets: { clusterId: 'ops', planId: plan.id },
      status: 201,
      before: null,
      after: null,
    });
    const approval = (await t.http.post(`/api/v1/plans/${plan.id}/approve`).set(operator).send({}).expect(202)).body;
    expect(approval.migrationIds.length).toBeGreaterThan(0);
    const approved = await newest('POST', '/api/v1/plans/:id/approve', plan.id);
    expect(approved).toMatchObject({ keyId: keys.operator.id, action: 'approve', status: 202, targets: { planId: plan.id, migrationIds: approval.migrationIds } });
    // Each migration it started is found by its id.
    expect((await audit({ targetId: approval.migrationIds[0] })).items.map((e) => e.id)).toEqual([approved.id]);

    await t.http.post('/api/v1/clusters/import').set(as(ADMIN_KEY)).send(testCluster('mt', { vmsPerHost: [1, 0] })).expect(201);
    const op = (await t.http.post('/api/v1/hosts/mt-h1/maintenance').set(operator).send({}).expect(202)).body;
    const entered = await newest('POST', '/api/v1/hosts/:id/maintenance', 'mt-h1');
    expect(entered).toMatchObject({ keyId: keys.operator.id, kind: 'maintenance', action: 'enter', status: 202, targets: { hostId: 'mt-h1', operationId: op.id } });
    expect(entered.before).toMatchObject({ id: 'mt-h1', state: 'connected' });
    expect(entered.after).toMatchObject({ id: 'mt-h1' });
    expect(entered.after?.state).not.toBe('connected');
  });

  it('records a refused request with who made it and why, and nothing of a request without a valid key', async () => {
    const before = (await audit({ route: '/api/v1/clusters', method: 'POST' })).items.length;
    const forbidden = await t.http.post('/api/v1/clusters').set(as(keys.viewer.key)).send({ id: 'nope', name: 'No' }).expect(403);
    const refused = await newest('POST', '/api/v1/clusters');
    expect(refused).toMatchObject({
      keyId: keys.viewer.id,
      keyName: keys.viewer.name,
      keyRole: 'viewer',
      status: 403,
      outcome: 'refused',
      message: forbidden.body.message,
      before: null,
      after: null,
    });
    expect(refused.message).toMatch(/needs role admin/);

    // A change that fails inside its transaction: the row says 409, with no state after it.
    await t.http.post('/api/v1/clusters/import').set(as(keys.admin.key)).send(testCluster('imp', { vmsPerHost: [1] })).expect(409);
    expect(await newest('POST', '/api/v1/clusters/import', 'imp')).toMatchObject({ status: 409, outcome: 'refused', message: expect.stringMatching(/already exists/), after: null, before: null });
    await t.http.patch('/api/v1/hosts/no-such-host').set(as(keys.admin.key)).send({ cpuCapacityMhz: 1 }).expect(404);
    expect(await newest('PATCH', '/api/v1/hosts/:id', 'no-such-host')).toMatchObject({ status: 404, before: null, after: null });
    // A NUL in the path (which PostgreSQL's text cannot hold) is refused, and still recorded, in U+FFFD's place.
    await t.http.patch('/api/v1/hosts/nul%00host').set(as(keys.admin.key)).send({ cpuCapacityMhz: 1 }).expect(400);
    expect(await newest('PATCH', '/api/v1/hosts/:id', 'nul\uFFFDhost')).toMatchObject({ status: 400, outcome: 'refused' });

    await t.http.post('/api/v1/clusters').send({ id: 'anon', name: 'No key' }).expect(401);
    await t.http.post('/api/v1/clusters').set(as('blst_not-a-key')).send({ id: 'anon', name: 'No key' }).expect(401);
    expect((await audit({ route: '/api/v1/clusters', method: 'POST' })).items.length).toBe(before + 1);
    expect((await audit({ targetId: 'anon' })).items).toEqual([]);
  });

  it('filters by key, method, target, route, kind, action, time and outcome', async () => {
    const all = (await audit({ limit: '1000' })).items;
    expect(all.length).toBeGreaterThan(15);
    const ids = all.map((e) => Number(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => b - a));

    const byOperator = (await audit({ keyId: keys.operator.id })).items;
    expect(byOperator.length).toBeGreaterThanOrEqual(3);
    expect(byOperator.every((e) => e.keyId === keys.operator.id)).toBe(true);
    expect((await audit({ keyId: 'bootstrap' })).items.every((e) => e.keyName === 'BALLAST_ADMIN_KEY')).toBe(true);

    const patches = (await audit({ method: 'patch' })).items;
    expect(new Set(patches.map((e) => e.method))).toEqual(new Set(['PATCH']));
    expect((await audit({ targetId: 'imp-h2' })).items.map((e) => e.route)).toEqual(['/api/v1/hosts/:id']);
    expect(new Set((await audit({ kind: 'cluster' })).items.map((e) => e.kind))).toEqual(new Set(['cluster']));
    expect(new Set((await audit({ kind: 'cluster', action: 'import' })).items.map((e) => e.route))).toEqual(new Set(['/api/v1/clusters/import']));

    const refused = (await audit({ outcome: 'refused' })).items;
    expect(refused.length).toBeGreaterThanOrEqual(3);
    expect(refused.every((e) => e.status >= 400 && e.status < 500)).toBe(true);
    expect((await audit({ status: '403' })).items.every((e) => e.status === 403)).toBe(true);
    expect((await audit({ outcome: 'succeeded' })).items.every((e) => e.status < 400)).toBe(true);

    const middle = all[Math.floor(all.length / 2)];
    const since = (await audit({ from: middle.at, limit: '1000' })).items;
    expect(since.every((e) => e.at >= middle.at)).toBe(true);
    expect(since.map((e) => e.id)).toContain(middle.id);
    const until = (await audit({ to: middle.at, limit: '1000' })).items;
    expect(until.every((e) => e.at < middle.at)).toBe(true);
    expect(since.length + until.length).toBe(all.length);
  });

  it('pages newest first by cursor, with no row twice and none left out', async () => {
    const all = (await audit({ limit: '1000' })).items.map((e) => e.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 100; pages++) {
      const page = await audit({ limit: '4', ...(cursor ? { cursor } : {}) });
      expect(page.limit).toBe(4);
      seen.push(...page.items.map((e) => e.id));
      cursor = page.nextCursor;
      if (!cursor) break;
      expect(page.items).toHaveLength(4);
    }
    expect(seen).toEqual(all);
    // Filters hold across pages.
    const firstCluster = await audit({ kind: 'cluster', limit: '2' });
    const nextCluster = await audit({ kind: 'cluster', limit: '2', cursor: firstCluster.nextCursor! });
    expect([...firstCluster.items, ...nextCluster.items].map((e) => e.kind)).toEqual(['cluster', 'cluster', 'cluster', 'cluster']);
  });

  it('refuses bad filters with 400 naming the parameter', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ method: 'GET' }, 'method'],
      [{ kind: 'planet' }, 'kind'],
      [{ outcome: 'maybe' }, 'outcome'],
      [{ status: '99' }, 'status'],
      [{ status: 'ok' }, 'status'],
      [{ from: 'yesterday' }, 'from'],
      [{ to: '-271821-04-20' }, 'to'],
      [{ from: '2026-12-02T00:00:00Z', to: '2026-12-01T00:00:00Z' }, 'to'],
      [{ limit: '0' }, 'limit'],
      [{ limit: '1001' }, 'limit'],
      [{ cursor: 'abc' }, 'cursor'],
      [{ cursor: '-1' }, 'cursor'],
      [{ targetId: 'x'.repeat(201) }, 'targetId'],
      [{ operationId: 'x' }, 'operationId'],
    ];
    for (const [query, field] of cases) {
      const answer = await t.http.get('/api/v1/audit').query(query).set(as(keys.admin.key));
      expect([query, answer.status, answer.body.errors?.[0]?.field]).toEqual([query, 400, field]);
    }
  });

  it('is for admins only: 401 without a key, 403 to viewers and operators', async () => {
    await t.http.get('/api/v1/audit').expect(401);
    for (const role of ['viewer', 'operator'] as const) {
      const answer = await t.http.get('/api/v1/audit').set(as(keys[role].key));
      expect([role, answer.status, answer.body.requiredRole]).toEqual([role, 403, 'admin']);
    }
    await t.http.get('/api/v1/audit').set(as(ADMIN_KEY)).expect(200);
  });

  it('never turns a change into an error when its row cannot be written', async () => {
    const db = new DataSource({ type: 'postgres', url: t.config.DATABASE_URL });
    await db.initialize();
    try {
      await db.query(`ALTER TABLE audit_events RENAME TO audit_events_away`);
      try {
        await t.http.post('/api/v1/clusters').set(as(keys.admin.key)).send({ id: 'unaudited', name: 'U' }).expect(201);
        await t.http.post('/api/v1/clusters').set(as(keys.viewer.key)).send({ id: 'refused', name: 'R' }).expect(403);
      } finally {
        await db.query(`ALTER TABLE audit_events_away RENAME TO audit_events`);
      }
    } finally {
      await db.destroy();
    }
    await t.http.get('/api/v1/clusters/unaudited').set(as(keys.viewer.key)).expect(200);
    expect((await audit({ targetId: 'unaudited' })).items).toEqual([]);
  });

  it('deletes rows older than AUDIT_RETENTION_DAYS (365 by default), and only those', async () => {
    await t.http.patch('/api/v1/clusters/imp').set(as(keys.admin.key)).send({ name: 'old change' }).expect(200);
    const old = await newest('PATCH', '/api/v1/clusters/:id', 'imp');
    const total = (await audit({ limit: '1000' })).items.length;
    const db = new DataSource({ type: 'postgres', url: t.config.DATABASE_URL });
    await db.initialize();
    try {
      await db.query(`UPDATE audit_events SET at = now() - interval '366 days' WHERE id = $1`, [old.id]);
      await db.query(`UPDATE audit_events SET at = now() - interval '364 days' WHERE id = $1`, [Number(old.id) - 1]);
    } finally {
      await db.destroy();
    }
    expect(await t.app.get(AuditRetention).purge()).toBe(1);
    const left = (await audit({ limit: '1000' })).items.map((e) => e.id);
    expect(left).toHaveLength(total - 1);
    expect(left).not.toContain(old.id);
    expect(left).toContain(String(Number(old.id) - 1));
  });
});

describe('the audit trail of an open API (no key configured)', () => {
  let open: TestApp;
  beforeAll(async () => {
    open = await createTestApp();
  });
  afterAll(() => open.close());

  it('records a change as made by the open API, with no key id', async () => {
    await open.http.post('/api/v1/clusters').send({ id: 'o1', name: 'Open' }).expect(201);
    const { items } = (await open.http.get('/api/v1/audit?targetId=o1').expect(200)).body as { items: AuditEvent[] };
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ keyId: null, keyName: 'open API (no key configured)', status: 201, after: { id: 'o1' } });
  });
});
