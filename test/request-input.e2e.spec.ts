import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { testCluster } from './support/clusters.js';
import { createTestApp, type TestApp } from './support/test-app.js';

let t: TestApp;

const BIG_SNAPSHOT = readFileSync(new URL('./fixtures/scenarios/sample-96-hosts.json', import.meta.url), 'utf8');

beforeAll(async () => {
  // Small limits so that the tests' bodies cross them: 16 KB on most routes, 1 MB on import.
  t = await createTestApp({ SIM_TIME_SCALE: '0.002', BODY_LIMIT_KB: '16', IMPORT_BODY_LIMIT_MB: '1' });
  await t.http.post('/api/v1/clusters/import').send(testCluster('in', { vmsPerHost: [2, 0] })).expect(201);
});

afterAll(async () => {
  await t?.close();
});

async function hostState(id: string): Promise<string> {
  return (await t.http.get(`/api/v1/hosts/${id}`).expect(200)).body.state;
}

async function operations(): Promise<number> {
  return (await t.http.get('/api/v1/maintenance').expect(200)).body.total;
}

describe('a body that is not JSON', () => {
  it.each([
    ['text/plain', '{"dryRun":true}'],
    ['application/x-www-form-urlencoded', 'dryRun=true'],
    ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="dryRun"\r\n\r\ntrue\r\n--x--\r\n'],
  ])('%s on POST /hosts/:id/maintenance is 415 and the host stays out of maintenance', async (type, body) => {
    const res = await t.http.post('/api/v1/hosts/in-h1/maintenance').set('Content-Type', type).send(body).expect(415);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toMatchObject({ statusCode: 415, message: expect.stringContaining('application/json') });
    expect(await hostState('in-h1')).toBe('connected');
    expect(await operations()).toBe(0);
  });

  it('a body without a Content-Type is 415', async () => {
    const res = await t.http.post('/api/v1/hosts/in-h1/maintenance').set('Content-Type', '').send(Buffer.from('{"dryRun":true}')).expect(415);
    expect(res.body.message).toContain('no Content-Type');
    expect(await hostState('in-h1')).toBe('connected');
  });

  it('a JSON body in another charset or compressed is 415', async () => {
    await t.http.post('/api/v1/hosts/in-h1/maintenance').set('Content-Type', 'application/json; charset=utf-16').send('{}').expect(415);
    await t.http.post('/api/v1/hosts/in-h1/maintenance').set('Content-Type', 'application/json').set('Content-Encoding', 'gzip').send('{}').expect(415);
    expect(await operations()).toBe(0);
  });

  it('JSON is read as before, with or without a charset, and a POST with no body at all still works', async () => {
    const dry = await t.http.post('/api/v1/hosts/in-h1/maintenance').set('Content-Type', 'application/json; charset=UTF-8').send('{"dryRun":true}').expect(200);
    expect(dry.body.dryRun).toBe(true);
    const plan = await t.http.post('/api/v1/clusters/in/plans').expect(201);
    expect(plan.body.id).toEqual(expect.any(String));
    await t.http.post(`/api/v1/plans/${plan.body.id}/reject`).set('Content-Length', '0').expect(200);
  });

  it('a JSON null body is 400, not taken for "no body, the defaults": the host stays out of maintenance', async () => {
    const res = await t.http.post('/api/v1/hosts/in-h1/maintenance').set('Content-Type', 'application/json').send('null').expect(400);
    expect(res.body.errors[0]).toMatchObject({ field: 'body', reason: expect.stringContaining('must be a JSON object, got null') });
    expect(await hostState('in-h1')).toBe('connected');
    expect(await operations()).toBe(0);
  });

  it('a body on a route that takes none is 400 rather than ignored ({} is fine)', async () => {
    const res = await t.http.delete('/api/v1/vms/in-vm001').send({ force: true }).expect(400);
    expect(res.body.errors[0]).toMatchObject({ field: 'body', reason: expect.stringContaining('this route takes no body') });
    await t.http.get('/api/v1/vms/in-vm001').expect(200);
    const plan = await t.http.post('/api/v1/clusters/in/plans').expect(201);
    await t.http.post(`/api/v1/plans/${plan.body.id}/reject`).send(['all']).expect(400);
    await t.http.post(`/api/v1/plans/${plan.body.id}/reject`).send({}).expect(200);
  });

  it('malformed JSON is 400 naming the body', async () => {
    const res = await t.http.post('/api/v1/hosts/in-h1/maintenance').set('Content-Type', 'application/json').send('{"dryRun":tru').expect(400);
    expect(res.body.errors[0]).toMatchObject({ field: 'body', reason: expect.stringContaining('not valid JSON') });
  });
});

describe('body size', () => {
  it('a body past the route limit is 413 with a JSON answer, and nothing is created', async () => {
    const name = 'x'.repeat(20 * 1024);
    const res = await t.http.post('/api/v1/clusters').send({ id: 'too-big', name }).expect(413);
    expect(res.body).toMatchObject({ statusCode: 413, message: expect.stringContaining('16 KB') });
    await t.http.get('/api/v1/clusters/too-big').expect(404);
  });

  it('a chunked body past the limit is 413 too', async () => {
    // Written in parts, so the request has no Content-Length: the limit holds while reading.
    const req = t.http.post('/api/v1/clusters').set('Content-Type', 'application/json');
    req.write(`{"id":"too-big-2","name":"`);
    for (let i = 0; i < 20; i++) req.write('y'.repeat(1024));
    req.write('"}');
    const res = await req.expect(413);
    expect(res.body.statusCode).toBe(413);
    await t.http.get('/api/v1/clusters/too-big-2').expect(404);
  });

  it('import has its own, larger limit: a snapshot under it is accepted, one over it is 413 and imports nothing', async () => {
    const snapshot = JSON.parse(BIG_SNAPSHOT) as { cluster: { id: string } };
    expect(BIG_SNAPSHOT.length).toBeGreaterThan(1024 * 1024);
    const refused = await t.http.post('/api/v1/clusters/import').set('Content-Type', 'application/json').send(BIG_SNAPSHOT).expect(413);
    expect(refused.body.message).toContain('1 MB');
    await t.http.get(`/api/v1/clusters/${snapshot.cluster.id}`).expect(404);
    // 64 KB is over the 16 KB of other routes, well under import's 1 MB.
    const medium = testCluster('medium', { vmsPerHost: [60, 60, 60] });
    expect(JSON.stringify(medium).length).toBeGreaterThan(16 * 1024);
    await t.http.post('/api/v1/clusters/import').send(medium).expect(201);
  });

  it('GET takes no body: 413', async () => {
    const res = await t.http.get('/api/v1/clusters').set('Content-Type', 'application/json').send('{"a":1}').expect(413);
    expect(res.body.message).toContain('GET takes no body');
  });
});

describe('NUL characters', () => {
  it('in a path id, a query filter or a string field: 400 naming it, nothing changed', async () => {
    const path = await t.http.get('/api/v1/hosts/in%00h1').expect(400);
    expect(path.body.errors[0]).toMatchObject({ field: 'id', reason: expect.stringContaining('NUL') });
    await t.http.post('/api/v1/hosts/in-h1%00/maintenance').send({ dryRun: true }).expect(400);
    const filter = await t.http.get('/api/v1/migrations?clusterId=in%00').expect(400);
    expect(filter.body.errors[0].field).toBe('clusterId');
    const field = await t.http.post('/api/v1/clusters').send({ id: 'nul', name: 'a\u0000b' }).expect(400);
    expect(field.body.errors[0]).toMatchObject({ field: 'body.name', reason: expect.stringContaining('NUL') });
    const key = await t.http.patch('/api/v1/hosts/in-h1').send({ 'state\u0000': 'maintenance' }).expect(400);
    expect(key.body.errors[0].field).toBe('body.state\\u0000');
    await t.http.get('/api/v1/clusters/nul').expect(404);
    expect(await hostState('in-h1')).toBe('connected');
  });
});

describe('query parameters', () => {
  it('an unknown one on a list route is 400 naming it and the ones the route takes', async () => {
    const res = await t.http.get('/api/v1/migrations?operationId=x').expect(400);
    expect(res.body.errors[0]).toMatchObject({ field: 'operationId', reason: expect.stringMatching(/unknown query parameter .*clusterId/) });
    expect(res.body.message).toContain('limit');
    await t.http.get('/api/v1/clusters?limit=5&offset=0').expect(200);
    await t.http.get('/api/v1/clusters?clusterId=in').expect(400);
  });

  it('on a route that takes none, any is 400; a route taking single @Query names accepts those', async () => {
    const res = await t.http.get('/api/v1/hosts/in-h1?verbose=1').expect(400);
    expect(res.body.errors[0].reason).toContain('takes none');
    await t.http.post('/api/v1/clusters/in/plans?dryRun=true').expect(201);
    await t.http.post('/api/v1/clusters/in/plans?dryrun=true').expect(400);
  });

  it('one given twice or with brackets is 400', async () => {
    await t.http.get('/api/v1/migrations?clusterId=a&clusterId=b').expect(400);
    await t.http.get('/api/v1/migrations?clusterId[x]=a').expect(400);
  });
});

describe('JSON nested thousands of levels deep', () => {
  const deep = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

  it('is 400 on every kind of body route, before it is parsed', async () => {
    for (const [method, path] of [['post', '/api/v1/clusters/import'], ['post', '/api/v1/hosts/in-h1/maintenance'], ['patch', '/api/v1/vms/in-vm001'], ['post', '/api/v1/metrics']] as const) {
      const body = `{"a":${deep(5_000)}}`;
      const res = await t.http[method](path).set('Content-Type', 'application/json').send(body).expect(400);
      expect(res.body.errors[0]).toMatchObject({ field: 'body', reason: 'nested deeper than 32 levels' });
    }
    expect(await hostState('in-h1')).toBe('connected');
  });

  it('a little nesting (a string that looks deep, a document 30 levels down) is read as usual', async () => {
    await t.http.post('/api/v1/clusters').send({ id: 'brackets', name: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[' }).expect(201);
    const res = await t.http.post('/api/v1/hosts/in-h1/maintenance').set('Content-Type', 'application/json').send(`{"dryRun":${deep(30)}}`).expect(400);
    expect(res.body.errors[0].field).toBe('body.dryRun');
  });

  it('the CLI exits 2 with one line for such a snapshot file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ballast-deep-'));
    try {
      const file = join(dir, 'deep.json');
      writeFileSync(file, `{"version":1,"cluster":${deep(100_000)}}`);
      const cli = spawnSync(process.execPath, [join(process.cwd(), 'dist', 'src', 'cli', 'main.js'), 'plan', '--snapshot', file], { encoding: 'utf8' });
      expect(cli.status).toBe(2);
      expect(cli.stderr.trim().split('\n')).toEqual([`ballast: ${file}: nested deeper than 32 levels`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('numbers and times out of range', () => {
  const vm = { id: 'range-vm', hostId: 'in-h2', vcpus: 2, memoryMb: 4096, cpuDemandMhz: 100, powerState: 'on' };

  it.each([
    ['vcpus', 1e308, 'must be <= 65536'],
    ['vcpus', 2 ** 53 + 1, 'must be <= 65536'],
    ['memoryMb', 1e308, 'must be <= 1000000000'],
    ['cpuDemandMhz', 1e300, 'must be <= 100000000'],
    ['lastMigratedAt', '0001-01-01T00:00:00Z', 'must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z'],
  ])('a VM with %s %s is 400 naming it, and no VM is created', async (field, value, reason) => {
    const res = await t.http.post('/api/v1/vms').send({ ...vm, [field]: value }).expect(400);
    expect(res.body.errors[0]).toMatchObject({ field: `body.${field}`, reason: expect.stringContaining(reason) });
    await t.http.get('/api/v1/vms/range-vm').expect(404);
  });

  it('the same VM in range is created (what is refused above is the value alone)', async () => {
    await t.http.post('/api/v1/vms').send({ ...vm, vcpus: 4096, lastMigratedAt: '2026-01-01T00:00:00Z' }).expect(201);
    await t.http.delete('/api/v1/vms/range-vm').expect(204);
  });

  it('1e308 capacities or weights in an import are 400 naming the item and field, nothing imported', async () => {
    const big = testCluster('huge', { vmsPerHost: [1, 1] });
    big.hosts[1].cpuCapacityMhz = 1e308;
    const host = await t.http.post('/api/v1/clusters/import').send(big).expect(400);
    expect(host.body.errors[0]).toMatchObject({ field: 'snapshot.hosts[1] (huge-h2).cpuCapacityMhz', reason: expect.stringContaining('<= 100000000') });
    const weighted = testCluster('huge', { vmsPerHost: [1, 1] });
    weighted.policy.resourceWeights = { cpu: 1e308, memory: 1 };
    const weight = await t.http.post('/api/v1/clusters/import').send(weighted).expect(400);
    expect(weight.body.errors[0].field).toBe('snapshot.policy.resourceWeights.cpu');
    await t.http.get('/api/v1/clusters/huge').expect(404);
    const patch = await t.http.patch('/api/v1/hosts/in-h1').send({ memoryCapacityMb: 1e308 }).expect(400);
    expect(patch.body.errors[0].field).toBe('body.memoryCapacityMb');
  });

  it('a time out of range in a query is 400 naming it', async () => {
    const since = await t.http.get('/api/v1/migrations?since=-271821-04-20').expect(400);
    expect(since.body.errors[0]).toMatchObject({ field: 'since', reason: expect.stringContaining('between 1970') });
    await t.http.get('/api/v1/migrations?until=+275760-09-13T00:00:00Z').expect(400);
    await t.http.get('/api/v1/hosts/in-h1/metrics?from=0001-01-01T00:00:00Z').expect(400);
  });

  it('a pushed sample of 1e308 MHz is 400 naming it, nothing stored', async () => {
    const at = new Date().toISOString();
    const res = await t.http.post('/api/v1/metrics').send({ samples: [{ hostId: 'in-h1', at, cpuMhz: 1e308, memoryMb: 1 }] }).expect(400);
    expect(res.body.errors[0]).toMatchObject({ field: 'body.samples[0].cpuMhz', reason: expect.stringContaining('100000000') });
  });
});
