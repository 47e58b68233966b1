import { createHash } from 'node:crypto';
import { DataSource } from 'typeorm';
import { KEY_ROLES, type KeyRole, roleCovers } from '../src/auth/roles.js';
import { concretePath, openApiPath, routeTable } from './support/route-table.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/**
 * Generated from the route table: every route the server answers declares a role or is public, and
 * answers 401 without a key and 403 to each role below its own. A route added without a decorator
 * fails here (and the guard refuses it).
 */
const ADMIN_KEY = 'test-admin-key-0123456789abcdefghijklmnop';
const PUBLIC_ROUTES = ['GET /health', 'GET /health/ready'];
/** Public routes kept out of the OpenAPI document: the dashboard's page (its data comes through the API with a key). */
const UNDOCUMENTED_PUBLIC_ROUTES = ['GET /'];

type Operation = Record<string, unknown>;

describe('access: keys and roles on every route', () => {
  let t: TestApp;
  const keys = {} as Record<KeyRole, string>;
  let document: { paths: Record<string, Record<string, Operation>> };

  beforeAll(async () => {
    t = await createTestApp({ BALLAST_ADMIN_KEY: ADMIN_KEY });
    for (const role of KEY_ROLES) {
      const created = await t.http.post('/api/v1/keys').set('authorization', `Bearer ${ADMIN_KEY}`).send({ name: `test ${role}`, role });
      expect(created.status).toBe(201);
      keys[role] = created.body.key;
    }
    document = (await t.http.get('/docs-json')).body;
  });
  afterAll(() => t.close());

  const apiRoutes = () =>
    routeTable(t.app).filter((r) => !r.path.startsWith('/docs') && !UNDOCUMENTED_PUBLIC_ROUTES.includes(`${r.method} ${r.path}`));
  const declared = (method: string, path: string): Operation | undefined => document.paths[openApiPath(path)]?.[method.toLowerCase()];

  it('finds the routes', () => {
    expect(apiRoutes().length).toBeGreaterThan(40);
    expect(apiRoutes()).toContainEqual({ method: 'POST', path: '/api/v1/keys' });
  });

  it('every route declares a role or is public, in the OpenAPI document too', () => {
    const undeclared = apiRoutes()
      .filter((r) => {
        const operation = declared(r.method, r.path);
        return !operation || (!operation['x-ballast-role'] && !operation['x-ballast-public']);
      })
      .map((r) => `${r.method} ${r.path}`);
    expect(undeclared).toEqual([]);
    const publicRoutes = apiRoutes().filter((r) => declared(r.method, r.path)?.['x-ballast-public']).map((r) => `${r.method} ${r.path}`);
    expect(publicRoutes.sort()).toEqual(PUBLIC_ROUTES);
  });

  it('declares the bearer scheme and each operation\'s security', () => {
    expect((document as unknown as { components: { securitySchemes: Record<string, { scheme: string }> } }).components.securitySchemes.bearer.scheme).toBe('bearer');
    for (const r of apiRoutes()) {
      const operation = declared(r.method, r.path)!;
      expect([r, operation.security]).toEqual([r, operation['x-ballast-public'] ? [] : [{ bearer: [] }]]);
    }
  });

  it('answers 401 without a valid key and 403 to a role too low, naming the role needed, on every route', async () => {
    const server = t.app.getHttpServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const seen: string[] = [];
    for (const r of apiRoutes()) {
      const operation = declared(r.method, r.path)!;
      if (operation['x-ballast-public']) continue;
      const required = operation['x-ballast-role'] as KeyRole;
      const path = concretePath(r.path);
      // fetch answers at the headers, so an event stream (GET /api/v1/events) is read no further.
      const send = async (key?: string): Promise<{ status: number; body: Record<string, unknown> }> => {
        const headers: Record<string, string> = r.method === 'GET' ? {} : { 'content-type': 'application/json' };
        if (key) headers.authorization = `Bearer ${key}`;
        const abort = new AbortController();
        const answer = await fetch(`${base}${path}`, { method: r.method, headers, body: r.method === 'GET' ? undefined : '{}', signal: abort.signal });
        const streaming = answer.headers.get('content-type')?.includes('text/event-stream');
        const text = streaming ? '' : await answer.text();
        abort.abort();
        return { status: answer.status, body: text.startsWith('{') ? JSON.parse(text) : {} };
      };
      for (const key of [undefined, 'blst_not-a-key-at-all', ADMIN_KEY.slice(1)]) {
        const answer = await send(key);
        expect([r, answer.status, answer.body.requiredRole]).toEqual([r, 401, required]);
      }
      for (const role of KEY_ROLES) {
        const answer = await send(keys[role]);
        if (roleCovers(role, required)) {
          expect([r, role, answer.status === 401 || answer.status === 403 || answer.status >= 500]).toEqual([r, role, false]);
        } else {
          expect([r, role, answer.status, answer.body.requiredRole, answer.body.role]).toEqual([r, role, 403, required, role]);
        }
      }
      seen.push(`${r.method} ${r.path}`);
    }
    expect(seen.length).toBeGreaterThan(40);
  });

  it('leaves health and the docs open', async () => {
    expect(routeTable(t.app).map((r) => `${r.method} ${r.path}`)).toEqual(expect.arrayContaining(UNDOCUMENTED_PUBLIC_ROUTES));
    for (const path of ['/health', '/health/ready', '/docs', '/docs-json']) {
      const answer = await t.http.get(path).redirects(1);
      expect([path, answer.status]).toEqual([path, 200]);
    }
    // The dashboard's page: 200 when built, 404 when not; never a demand for a key.
    expect([200, 404]).toContain((await t.http.get('/')).status);
  });

  it('shows a key once and stores only its SHA-256', async () => {
    const auth = `Bearer ${ADMIN_KEY}`;
    const created = await t.http.post('/api/v1/keys').set('authorization', auth).send({ name: 'ci', role: 'viewer' });
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(/^blst_[A-Za-z0-9_-]{43}$/);
    expect(created.body.key.startsWith(created.body.prefix)).toBe(true);
    const listed = await t.http.get('/api/v1/keys').set('authorization', auth);
    const item = listed.body.items.find((k: { id: string }) => k.id === created.body.id);
    expect(item).toMatchObject({ name: 'ci', role: 'viewer', active: true, createdByKeyId: 'bootstrap' });
    expect(JSON.stringify(listed.body)).not.toContain(created.body.key);
    expect((await t.http.get(`/api/v1/keys/${created.body.id}`).set('authorization', auth)).body.key).toBeUndefined();

    const db = new DataSource({ type: 'postgres', url: t.config.DATABASE_URL });
    await db.initialize();
    try {
      const [row] = await db.query(`SELECT encode(key_hash, 'hex') AS hash, row_to_json(k)::text AS whole FROM api_keys k WHERE id = $1`, [created.body.id]);
      expect(row.hash).toBe(createHash('sha256').update(created.body.key).digest('hex'));
      expect(row.whole).not.toContain(created.body.key.slice(5));
    } finally {
      await db.destroy();
    }
  });

  it('refuses bad key requests with 400 naming the field', async () => {
    const auth = `Bearer ${ADMIN_KEY}`;
    const cases: [object, string][] = [
      [{ role: 'viewer' }, 'body.name'],
      [{ name: 'x', role: 'root' }, 'body.role'],
      [{ name: 'x', role: 'viewer', expiresAt: '2001-01-01T00:00:00Z' }, 'body.expiresAt'],
      [{ name: 'x', role: 'viewer', expiresAt: '9999-01-01T00:00:00Z' }, 'body.expiresAt'],
      [{ name: 'x', role: 'viewer', secret: 'mine' }, 'body.secret'],
    ];
    for (const [body, field] of cases) {
      const answer = await t.http.post('/api/v1/keys').set('authorization', auth).send(body);
      expect([body, answer.status, answer.body.errors?.[0]?.field]).toEqual([body, 400, field]);
    }
  });

  it('refuses a key once it has expired, and one revoked at once', async () => {
    const auth = `Bearer ${ADMIN_KEY}`;
    const soon = new Date(Date.now() + 60_000).toISOString();
    const expiring = (await t.http.post('/api/v1/keys').set('authorization', auth).send({ name: 'temp', role: 'viewer', expiresAt: soon })).body;
    expect(expiring.expiresAt).toBe(soon);
    expect((await t.http.get('/api/v1/clusters').set('authorization', `Bearer ${expiring.key}`)).status).toBe(200);
    // Time passes: the stored expiry moves into the past.
    const db = new DataSource({ type: 'postgres', url: t.config.DATABASE_URL });
    await db.initialize();
    try {
      await db.query(`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, [expiring.id]);
    } finally {
      await db.destroy();
    }
    const expired = await t.http.get('/api/v1/clusters').set('authorization', `Bearer ${expiring.key}`);
    expect([expired.status, expired.body.message]).toEqual([401, expect.stringMatching(/expired/)]);

    const revocable = (await t.http.post('/api/v1/keys').set('authorization', auth).send({ name: 'gone', role: 'operator' })).body;
    expect((await t.http.get('/api/v1/plans').set('authorization', `Bearer ${revocable.key}`)).status).toBe(200);
    const revoked = await t.http.delete(`/api/v1/keys/${revocable.id}`).set('authorization', auth);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ active: false, revokedAt: expect.any(String) });
    const refused = await t.http.get('/api/v1/plans').set('authorization', `Bearer ${revocable.key}`);
    expect([refused.status, refused.body.message]).toEqual([401, expect.stringMatching(/revoked/)]);

    const active = (await t.http.get('/api/v1/keys').set('authorization', auth)).body.items.map((k: { id: string }) => k.id);
    expect(active).not.toContain(revocable.id);
    expect(active).not.toContain(expiring.id);
    const all = (await t.http.get('/api/v1/keys?includeInactive=true').set('authorization', auth)).body.items.map((k: { id: string }) => k.id);
    expect(all).toEqual(expect.arrayContaining([revocable.id, expiring.id]));
    expect((await t.http.delete('/api/v1/keys/not-a-uuid').set('authorization', auth)).status).toBe(404);
  });
});

describe('access: no key configured at all', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('is open until the first key is stored, then asks for keys', async () => {
    expect((await t.http.get('/api/v1/clusters')).status).toBe(200);
    const created = await t.http.post('/api/v1/keys').send({ name: 'first admin', role: 'admin' });
    expect(created.status).toBe(201);
    expect(created.body.createdByKeyId).toBeNull();
    const refused = await t.http.get('/api/v1/clusters');
    expect([refused.status, refused.body.requiredRole]).toEqual([401, 'viewer']);
    expect((await t.http.get('/api/v1/clusters').set('authorization', `Bearer ${created.body.key}`)).status).toBe(200);
  });
});
