import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runNode, startService } from './support/run-node.js';
import { createTestDatabase } from './support/test-app.js';

/** Where `npm start` listens: loopback while the API is open, every interface once a key is configured. */
const ADMIN_KEY = 'bind-test-admin-key-0123456789abcdefghij';
const READY = /API on (http:\/\/\S+)\/api\/v1/;

describe('the bind address', () => {
  let database: { url: string; drop(): Promise<void> };
  let env: Record<string, string>;
  beforeAll(async () => {
    database = await createTestDatabase();
    env = { DATABASE_URL: database.url, REDIS_PREFIX: `ballast-bind-${process.pid}`, BALLAST_DEMO: 'false', BALANCE_INTERVAL_SECONDS: '0', METRICS_INTERVAL_SECONDS: '0', PORT: '0' };
  });
  afterAll(() => database.drop());

  it('with no key configured, listens on loopback only and says so', async () => {
    const service = await startService(env, READY);
    try {
      expect(service.output()).toMatch(/no API key configured .*the API is open, so it listens on 127\.0\.0\.1 only/);
      const url = READY.exec(service.output())![1];
      expect(url).toMatch(/^http:\/\/localhost:\d+$/);
      expect((await fetch(`${url.replace('localhost', '127.0.0.1')}/api/v1/clusters`)).status).toBe(200);
    } finally {
      await service.stop();
    }
  });

  it('refuses to expose an open API on another address, in one line', async () => {
    const { code, stderr } = await runNode('dist/src/main.js', [], { ...env, HOST: '0.0.0.0' });
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(/^ballast: invalid configuration: HOST=0\.0\.0\.0 would expose an API that has no key/)]);
  });

  it('with BALLAST_ADMIN_KEY, listens on every interface and refuses requests without a key', async () => {
    const service = await startService({ ...env, BALLAST_ADMIN_KEY: ADMIN_KEY }, READY);
    try {
      expect(service.output()).not.toMatch(/no API key configured/);
      const url = READY.exec(service.output())![1];
      const port = new URL(url).port;
      const refused = await fetch(`http://127.0.0.1:${port}/api/v1/clusters`);
      expect(refused.status).toBe(401);
      expect(await refused.json()).toMatchObject({ requiredRole: 'viewer' });
      expect((await fetch(`http://127.0.0.1:${port}/api/v1/clusters`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
      expect(url).not.toContain('127.0.0.1');
    } finally {
      await service.stop();
    }
  });

  it('names a port already in use in one line', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const { code, stderr } = await runNode('dist/src/main.js', [], { ...env, PORT: String(port) });
      expect(code).toBe(1);
      expect(stderr.trim().split('\n')).toEqual([`ballast: invalid configuration: PORT: port ${port} on 127.0.0.1 is already in use (another Ballast?): stop it or set PORT`]);
    } finally {
      taken.close();
    }
  });
});
