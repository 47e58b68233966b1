import { createSiblingApp, createTestApp, type TestApp } from './support/test-app.js';

/**
 * The limits on, low enough to reach (the other tests run with them off): requests per key, failed
 * authentications per client address (told apart through a trusted proxy's X-Forwarded-For),
 * health never limited. Plus the security headers every answer carries.
 */
const ADMIN_KEY = 'test-admin-key-0123456789abcdefghijklmnop';
const PER_KEY = 5;
const FAILURES = 3;

describe('rate limits', () => {
  let t: TestApp;
  let viewerKey: string;
  const from = (address: string) => ({ 'x-forwarded-for': address });

  beforeAll(async () => {
    t = await createTestApp({
      BALLAST_ADMIN_KEY: ADMIN_KEY,
      RATE_LIMIT_PER_MINUTE: String(PER_KEY),
      AUTH_FAILURE_LIMIT_PER_MINUTE: String(FAILURES),
      TRUST_PROXY: 'loopback',
    });
    const created = await t.http.post('/api/v1/keys').set('authorization', `Bearer ${ADMIN_KEY}`).send({ name: 'dashboard', role: 'viewer' });
    expect(created.status).toBe(201);
    viewerKey = created.body.key;
  });
  afterAll(() => t.close());

  it('answers 429 with Retry-After and why once a key is past its requests a minute; other keys go on', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < PER_KEY; i++) statuses.push((await t.http.get('/api/v1/clusters').set('authorization', `Bearer ${viewerKey}`)).status);
    expect(statuses).toEqual(Array(PER_KEY).fill(200));
    const refused = await t.http.get('/api/v1/clusters').set('authorization', `Bearer ${viewerKey}`);
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers['retry-after']);
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60 / PER_KEY).toBe(true);
    expect(refused.body).toMatchObject({ statusCode: 429, limit: 'RATE_LIMIT_PER_MINUTE', retryAfterSeconds: retryAfter });
    expect(refused.body.message).toMatch(/key "dashboard" made more than 5 requests a minute: retry in \d+ s/);
    // A refused request counts for nothing: it is refused again, and another key is untouched.
    expect((await t.http.get('/api/v1/session').set('authorization', `Bearer ${viewerKey}`)).status).toBe(429);
    expect((await t.http.get('/api/v1/clusters').set('authorization', `Bearer ${ADMIN_KEY}`)).status).toBe(200);
  });

  it('declares the 429 in the OpenAPI document of every operation that needs a key, and of no public one', async () => {
    const document = (await t.http.get('/docs-json')).body as { paths: Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown[] }>> };
    const operations = Object.values(document.paths).flatMap((item) => Object.values(item));
    expect(operations.length).toBeGreaterThan(40);
    for (const operation of operations) expect(operation.responses['429'] !== undefined).toBe((operation.security ?? []).length > 0);
  });

  it('never limits the health probes', async () => {
    for (let i = 0; i < 3 * (PER_KEY + FAILURES); i++) expect((await t.http.get('/health').set(from('198.51.100.1'))).status).toBe(200);
  });

  it('refuses an address that failed authentication too often, even with a valid key; other addresses go on', async () => {
    const attacker = '203.0.113.7';
    const failures = [
      await t.http.get('/api/v1/clusters').set(from(attacker)),
      await t.http.get('/api/v1/clusters').set(from(attacker)).set('authorization', 'Bearer guess-1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'),
      await t.http.post('/api/v1/clusters').set(from(attacker)).set('authorization', 'Bearer guess-2-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa').send({}),
    ];
    expect(failures.map((r) => r.status)).toEqual([401, 401, 401]);
    const refused = await t.http.get('/api/v1/clusters').set(from(attacker)).set('authorization', 'Bearer guess-3-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ statusCode: 429, limit: 'AUTH_FAILURE_LIMIT_PER_MINUTE' });
    expect(refused.body.message).toMatch(/too many failed authentications from this address/);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60 / FAILURES);
    // Refused before the key is looked at: a right guess is not told apart from a wrong one.
    expect((await t.http.get('/api/v1/clusters').set(from(attacker)).set('authorization', `Bearer ${ADMIN_KEY}`)).status).toBe(429);
    expect((await t.http.get('/health').set(from(attacker))).status).toBe(200);
    expect((await t.http.get('/api/v1/clusters').set(from('203.0.113.8')).set('authorization', `Bearer ${ADMIN_KEY}`)).status).toBe(200);
  });

  it('counts a key and an address alike in every API process (in Redis): two processes give no more than one', async () => {
    const sibling = await createSiblingApp(t);
    try {
      const created = await t.http.post('/api/v1/keys').set('authorization', `Bearer ${ADMIN_KEY}`).set(from('198.51.100.1')).send({ name: 'spread', role: 'viewer' });
      const key = created.body.key as string;
      const apps = [t, sibling];
      const statuses: number[] = [];
      for (let i = 0; i <= PER_KEY; i++) statuses.push((await apps[i % 2].http.get('/api/v1/clusters').set('authorization', `Bearer ${key}`)).status);
      expect(statuses).toEqual([...Array(PER_KEY).fill(200), 429]);
      expect((await t.http.get('/api/v1/clusters').set('authorization', `Bearer ${key}`)).status).toBe(429);
      const guesser = '203.0.113.99';
      for (let i = 0; i < FAILURES; i++) expect((await apps[i % 2].http.get('/api/v1/session').set(from(guesser))).status).toBe(401);
      expect((await sibling.http.get('/api/v1/session').set(from(guesser)).set('authorization', `Bearer ${ADMIN_KEY}`)).status).toBe(429);
    } finally {
      await sibling.close();
    }
  });

  it('counts an IPv6 client by its /64', async () => {
    for (const address of ['2001:db8::1', '2001:db8::2', '2001:db8::3']) {
      expect((await t.http.get('/api/v1/session').set(from(address))).status).toBe(401);
    }
    expect((await t.http.get('/api/v1/session').set(from('2001:db8::ffff:4')).set('authorization', `Bearer ${ADMIN_KEY}`)).status).toBe(429);
    expect((await t.http.get('/api/v1/session').set(from('2001:db8:0:1::1')).set('authorization', `Bearer ${ADMIN_KEY}`)).status).toBe(200);
  });
});

describe('security headers', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  const expectCommonHeaders = (headers: Record<string, string>) => {
    expect(headers['x-powered-by']).toBeUndefined();
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(headers['x-frame-options']).toBe('DENY');
    expect(headers['referrer-policy']).toBe('no-referrer');
    expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
  };

  it('on API answers, refusals included, with Cache-Control: no-store', async () => {
    for (const answer of [
      await t.http.get('/api/v1/clusters'),
      await t.http.get('/api/v1/clusters/nope'),
      await t.http.post('/api/v1/clusters').set('content-type', 'text/plain').send('x'),
      await t.http.get('/health'),
    ]) {
      expectCommonHeaders(answer.headers);
      expect(answer.headers['cache-control']).toMatch(/\bno-store\b/);
    }
  });

  it('on the dashboard: its own scripts and styles only; on the docs, which need inline styles, too', async () => {
    const page = await t.http.get('/');
    expectCommonHeaders(page.headers);
    const policy = page.headers['content-security-policy'];
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain("style-src 'self';");
    expect(policy).not.toContain('unsafe');
    const docs = await t.http.get('/docs/');
    expect(docs.status).toBe(200);
    expectCommonHeaders(docs.headers);
    expect(docs.headers['content-security-policy']).toContain("style-src 'self' 'unsafe-inline'");
    expect(docs.headers['content-security-policy']).not.toContain('unsafe-eval');
  });
});
