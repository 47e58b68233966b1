import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { deleteKeysUnder } from '../src/redis/delete-keys.js';
import { runNode, type ServiceProcess, startService } from './support/run-node.js';
import { checkEngineSwitch } from '../src/startup/engine-guard.js';
import { evacuationCluster } from './support/clusters.js';
import { createTestApp, createTestDatabase, type TestApp } from './support/test-app.js';

const MAIN = 'dist/src/main.js';
// Port 1 on loopback: nothing listens there, the connection is refused at once.
const CLOSED = '127.0.0.1:1';

describe('start-up errors', () => {
  it('names the PostgreSQL URL it tried and how to start the services, in one line', async () => {
    const { code, stderr, stdout } = await runNode(MAIN, [], { DATABASE_URL: `postgres://root:secret@${CLOSED}/ballast` });
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ballast: cannot reach PostgreSQL at postgres:\/\/root:\*\*\*@127\.0\.0\.1:1\/ballast/);
    expect(lines[0]).toContain('docker compose up -d');
    expect(lines[0]).not.toContain('secret');
    expect(stdout).toBe('');
  });

  it('names the Redis URL it tried, in one line', async () => {
    const { code, stderr } = await runNode(MAIN, [], { REDIS_URL: `redis://${CLOSED}` });
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ballast: cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
    expect(lines[0]).toContain('docker compose up -d');
  });

  it('says authentication failed, not unreachable, when PostgreSQL refuses the user', async () => {
    const base = new URL(process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/ballast');
    base.username = `nobody_${randomUUID().slice(0, 8)}`;
    base.password = 'wrong';
    const { code, stderr } = await runNode(MAIN, [], { DATABASE_URL: base.toString() });
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ballast: PostgreSQL at postgres:\/\/nobody_\w+:\*\*\*@.* answered, but authentication failed/);
    expect(lines[0]).toContain('postgres://ballast:ballast@127.0.0.1:5432/ballast');
    expect(lines[0]).not.toContain('cannot reach');
  });

  it('creates no database when it refuses to start because Redis does not answer', async () => {
    const url = new URL(process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/ballast');
    const name = `ballast_test_refused_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    url.pathname = `/${name}`;
    const { code, stderr } = await runNode(MAIN, [], { DATABASE_URL: url.toString(), REDIS_URL: `redis://${CLOSED}` });
    expect(code).toBe(1);
    expect(stderr).toContain('cannot reach Redis');
    url.pathname = '/postgres';
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    try {
      expect((await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount).toBe(0);
    } finally {
      await client.end();
    }
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT must be a whole number'],
    [{ PORT: '70000' }, 'PORT must be between 0 and 65535'],
    [{ BALLAST_ROLES: 'api,cook' }, 'BALLAST_ROLES must be a comma-separated list'],
    [{ BALLAST_DEMO: 'maybe' }, 'BALLAST_DEMO must be true or false'],
    [{ DATABASE_URL: 'mysql://localhost/x' }, 'DATABASE_URL must start with postgres://'],
    [{ REDIS_URL: 'not a url' }, 'REDIS_URL is not a URL'],
    // Each valid alone; together the simulated engine's lock would lapse between two renewals.
    [{ SIM_TIME_SCALE: '50', MIGRATION_LOCK_SECONDS: '1' }, 'SIM_TIME_SCALE=50 with MIGRATION_LOCK_SECONDS=1: '],
  ])('refuses the bad setting %j with one line', async (env, message) => {
    const { code, stderr } = await runNode(MAIN, [], env);
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([expect.stringContaining(`ballast: invalid configuration: ${message}`)]);
  });
});

describe('a metrics port already in use', () => {
  let database: { url: string; drop(): Promise<void> };
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database?.drop());

  it.each([['api,scheduler,worker'], ['worker']])('is named in one line (roles %s)', async (roles) => {
    const { createServer } = await import('node:net');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const { code, stderr } = await runNode(MAIN, [], {
        DATABASE_URL: database.url,
        REDIS_PREFIX: `ballast-test-metrics-port-${process.pid}`,
        BALLAST_ROLES: roles,
        BALLAST_DEMO: 'false',
        PORT: '0',
        METRICS_PORT: String(port),
      });
      expect(code).toBe(1);
      expect(stderr.trim().split('\n')).toEqual([
        `ballast: invalid configuration: METRICS_PORT: port ${port} on 127.0.0.1 is already in use (another Ballast?): stop it or set METRICS_PORT`,
      ]);
    } finally {
      taken.close();
    }
  });
});

describe('switching the migration engine', () => {
  let t: TestApp;
  beforeAll(async () => {
    // No worker: the approved moves wait (pending or queued), as on a database whose Ballast was stopped.
    t = await createTestApp({ BALLAST_ROLES: 'api' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses to start with another engine while migrations of the simulated engine have not ended, in one line', async () => {
    await t.http.post('/api/v1/clusters/import').send(evacuationCluster({ id: 'sim', vms: 2 })).expect(201);
    const plan = await t.http.post('/api/v1/clusters/sim/plans').send({}).expect(201);
    const { migrationIds } = (await t.http.post(`/api/v1/plans/${plan.body.id}/approve`).send({}).expect(202)).body as { migrationIds: string[] };
    expect(migrationIds).toHaveLength(2);
    const first = (await t.http.get(`/api/v1/migrations/${migrationIds[0]}`).expect(200)).body;
    expect(first.engine).toBe('simulated');
    expect(['pending', 'queued']).toContain(first.state);

    const { code, stderr, stdout } = await runNode(MAIN, [], { ...t.env, MIGRATION_ENGINE: 'qemu', PORT: '0', BALLAST_ROLES: 'api,scheduler,worker' });
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^ballast: MIGRATION_ENGINE=qemu, but the database has 2 pending\/queued\/running migrations of the simulated engine \(cluster sim\), whose VMs only that engine knows: start with MIGRATION_ENGINE=simulated until they end/),
    ]);
    expect(stdout).not.toMatch(/API on/);
    // Nothing ran: the moves still wait, for the engine that knows their VMs.
    expect(['pending', 'queued']).toContain((await t.http.get(`/api/v1/migrations/${migrationIds[0]}`).expect(200)).body.state);
    await checkEngineSwitch(t.config.DATABASE_URL, 'simulated');

    for (const id of migrationIds) {
      const { state } = (await t.http.get(`/api/v1/migrations/${id}`).expect(200)).body as { state: string };
      if (state === 'pending' || state === 'queued') await t.http.post(`/api/v1/migrations/${id}/cancel`).send({}).expect(202);
    }
    await checkEngineSwitch(t.config.DATABASE_URL, 'qemu');
  });
});

describe('health', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('is alive and ready when PostgreSQL and Redis answer', async () => {
    expect((await t.http.get('/health').expect(200)).body.status).toBe('ok');
    const ready = await t.http.get('/health/ready').expect(200);
    expect(ready.body.details).toMatchObject({ postgres: { status: 'up' }, redis: { status: 'up' } });
  });

  it('serves the OpenAPI document', async () => {
    const doc = await t.http.get('/docs-json').expect(200);
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/api/v1/clusters', '/api/v1/clusters/import', '/api/v1/hosts/{id}']));
  });
});

describe('Redis that may evict keys', () => {
  it('is named in a warning, since queued jobs could vanish', async () => {
    const { spawn } = await import('node:child_process');
    const { checkRedis } = await import('../src/startup/preflight.js');
    const port = 16379 + Math.floor(Math.random() * 1000);
    const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'allkeys-lru'], {
      stdio: 'ignore',
    });
    try {
      const url = `redis://127.0.0.1:${port}`;
      let warning: string | null = null;
      for (let tries = 0; tries < 50; tries += 1) {
        try {
          warning = await checkRedis(url);
          break;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      expect(warning).toBe(`Redis at ${url} has maxmemory-policy allkeys-lru: set it to noeviction, or queued jobs may be evicted`);
    } finally {
      server.kill('SIGKILL');
    }
  });
});

describe('npm start with the demo', () => {
  let service: ServiceProcess;
  let api: string;
  let database: { url: string; drop(): Promise<void> };
  const REDIS_PREFIX = `ballast-test-start-${process.pid}`;
  const READY = /API on (http:\/\/\S+)\/api\/v1/;

  beforeAll(async () => {
    database = await createTestDatabase();
    service = await startService({ DATABASE_URL: database.url, REDIS_PREFIX, PORT: '0', BALLAST_DEMO: 'true', BALANCE_INTERVAL_SECONDS: '0' }, /demo cluster: /, 60000);
    api = `${READY.exec(service.output())![1].replace('localhost', '127.0.0.1')}/api/v1`;
  }, 90000);

  afterAll(async () => {
    await service?.stop();
    await database?.drop();
    await deleteKeysUnder(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', REDIS_PREFIX);
  });

  it('logs the lines the README promises, not a line per route or module', () => {
    const output = service.output();
    expect(output).toMatch(/roles api,scheduler,worker; API on http:\/\/localhost:\d+\/api\/v1, docs on/);
    expect(output).toMatch(/demo cluster: http:\/\/localhost:\d+\/api\/v1\/clusters\/demo\/snapshot/);
    expect(output).not.toMatch(/Mapped \{/);
    expect(output).not.toMatch(/dependencies initialized/);
    expect(output.trim().split('\n').length).toBeLessThan(15);
  });

  it('gives the demo rules ids of its own: a sample with rules imports beside it', async () => {
    const rules = (await (await fetch(`${api}/rules?clusterId=demo`)).json()) as { items: { id: string }[] };
    expect(rules.items.length).toBeGreaterThan(0);
    expect(rules.items.every((r) => r.id.startsWith('demo-'))).toBe(true);
    const sample = readFileSync(new URL('./fixtures/scenarios/sample-rules.json', import.meta.url), 'utf8');
    const answer = await fetch(`${api}/clusters/import`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: sample });
    expect(answer.status).toBe(201);
  });
});
