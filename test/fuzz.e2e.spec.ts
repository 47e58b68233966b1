import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DataSource } from 'typeorm';
import { testCluster } from './support/clusters.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

/**
 * Every operation of the app's own OpenAPI document (/docs-json, the document configureHttpApp
 * builds), sent malformed in the ways issue 11 lists: a body that is not JSON, NUL bytes in path
 * ids, query filters and string fields, JSON nested thousands deep, 1e308 and 2^53+1, timestamps
 * out of range, unknown query parameters, wrong types, a body past the limit. Each must be refused
 * with a 4xx (never a 5xx, never accepted), and change nothing in the database: a digest of its
 * tables is taken before and after each operation's requests.
 *
 * Deterministic (fixed seed, fixed cases) and bounded: at most MAX_BODY_CASES body mutations per
 * operation, about 1,300 requests in all, with the admin key (every route is open to it).
 */
const ADMIN_KEY = 'fuzz-admin-key-0123456789abcdefghijklmnopq';
const SEED = 20261207;
const MAX_BODY_CASES = 16;
const BODY_LIMIT_KB = 16;
const IMPORT_BODY_LIMIT_MB = 1;

/** The tables a refused request must leave alone (those that exist: a table added later is read too if named here). */
const TABLES = [
  'clusters',
  'hosts',
  'vms',
  'rules',
  'plans',
  'migrations',
  'migration_events',
  'migration_dependencies',
  'maintenance_operations',
  'maintenance_events',
  'host_health',
  'metric_samples',
  'metric_series',
  'webhooks',
  'webhook_deliveries',
  'api_keys',
  'cluster_evaluations',
  'incidents',
];

interface Schema {
  type?: string;
  format?: string;
  enum?: unknown[];
  example?: unknown;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  allOf?: Schema[];
  $ref?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  readOnly?: boolean;
}

interface Parameter {
  in: 'path' | 'query';
  name: string;
  schema?: Schema;
}

interface Operation {
  method: string;
  /** OpenAPI form: /api/v1/hosts/{id} */
  path: string;
  parameters: Parameter[];
  body?: Schema;
}

interface FuzzCase {
  what: string;
  path: string;
  query?: string;
  contentType?: string;
  body?: string | Buffer;
}

interface Answer {
  status: number;
  body: string;
}

/** A JSON value whose text is written as is (2^53+1 has no double: JSON.stringify would round it). */
class Raw {
  constructor(readonly text: string) {}
}

function toJson(value: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_key, item: unknown) => {
    if (item instanceof Raw) {
      raws.push(item.text);
      return `@@raw${raws.length - 1}@@`;
    }
    return item;
  });
  return text.replace(/"@@raw(\d+)@@"/g, (_match, index: string) => raws[Number(index)]);
}

/** A deterministic shuffle (mulberry32), so the cases kept of a long list are the same every run. */
function seededShuffle<T>(items: T[], seed: number): T[] {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function resolve(schema: Schema | undefined, document: OpenApi): Schema | undefined {
  if (!schema) return undefined;
  if (schema.$ref) return resolve(document.components.schemas[schema.$ref.split('/').pop()!], document);
  if (schema.allOf?.length === 1) return { ...resolve(schema.allOf[0], document), ...schema, allOf: undefined };
  return schema;
}

interface OpenApi {
  paths: Record<string, Record<string, { parameters?: Parameter[]; requestBody?: { content: Record<string, { schema: Schema }> } }>>;
  components: { schemas: Record<string, Schema> };
}

function operationsOf(document: OpenApi): Operation[] {
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      operations.push({
        method: method.toUpperCase(),
        path,
        parameters: operation.parameters ?? [],
        body: resolve(operation.requestBody?.content['application/json']?.schema, document),
      });
    }
  }
  return operations;
}

/** A plausible value of a schema (the base a mutation changes one thing of). */
function baseValue(schema: Schema | undefined, document: OpenApi, depth = 0): unknown {
  const s = resolve(schema, document);
  if (!s) return {};
  if (s.example !== undefined) return s.example;
  if (s.enum) return s.enum[0];
  switch (s.type) {
    case 'string':
      return s.format === 'date-time' ? '2026-12-01T00:00:00Z' : 'fuzz';
    case 'number':
    case 'integer': {
      const low = s.minimum === undefined ? 1 : s.exclusiveMinimum ? s.minimum + 0.5 : Math.max(s.minimum, 1);
      return s.maximum === undefined ? low : Math.min(low, s.maximum);
    }
    case 'boolean':
      return false;
    case 'array': {
      const items = resolve(s.items, document);
      return items?.enum ? [items.enum[0]] : items?.type === 'string' ? ['fuzz'] : [];
    }
    default: {
      if (!s.properties || depth > 2) return {};
      const value: Record<string, unknown> = {};
      for (const name of s.required ?? []) {
        if (!s.properties[name]?.readOnly) value[name] = baseValue(s.properties[name], document, depth + 1);
      }
      return value;
    }
  }
}

const OUT_OF_RANGE_TIMES = ['-271821-04-20', '+275760-09-13T00:00:00.001Z', '99999-12-31T00:00:00Z', '2026-13-45T25:61:00Z'];
const HUGE_NUMBERS = [new Raw('1e308'), new Raw('-1e308'), new Raw('9007199254740993'), new Raw('1e400')];

/** Malformed values for a field whose well-formed value looks like `value` (or is described by `schema`). */
function badValues(value: unknown, schema: Schema | undefined, nulString: string): unknown[] {
  const type = schema?.type ?? (Array.isArray(value) ? 'array' : typeof value);
  if (schema?.format === 'date-time' || (typeof value === 'string' && /^\d{4}-\d\d-\d\dT/.test(value))) {
    return [...OUT_OF_RANGE_TIMES, 1e15, `2026-12-01${nulString}`];
  }
  switch (type) {
    case 'string':
      return [nulString, 12345, true, ['fuzz'], { nested: 'fuzz' }];
    case 'number':
    case 'integer':
      return [...HUGE_NUMBERS, '12', true, [1]];
    case 'boolean':
      return ['true', 1, [false]];
    case 'array':
      return [{ length: 1 }, 'fuzz', [nulString], [new Raw('1e308')], [{ nested: [[[]]] }]];
    default:
      return [[], 'fuzz', 42, { [nulString]: 1 }];
  }
}

/** Every body of an operation with one field of its base made malformed (nested objects one level down too). */
function bodyMutations(operation: Operation, base: unknown, document: OpenApi, nulStrings: string[]): { what: string; body: unknown }[] {
  const mutations: { what: string; body: unknown }[] = [];
  let n = 0;
  const visit = (value: unknown, schema: Schema | undefined, path: string[], replace: (next: unknown) => unknown) => {
    const s = resolve(schema, document);
    const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
    if (isObject && path.length < 3) {
      const record = value as Record<string, unknown>;
      const names = new Set([...Object.keys(record), ...Object.keys(s?.properties ?? {})]);
      for (const name of names) {
        const propertySchema = s?.properties?.[name];
        if (propertySchema?.readOnly) continue;
        const present = name in record;
        const child = present ? record[name] : baseValue(propertySchema, document);
        visit(child, propertySchema, [...path, name], (next) => replace({ ...record, [name]: next }));
      }
      if (path.length === 0) return;
    }
    if (Array.isArray(value) && value.length > 0 && path.length < 4) {
      visit(value[0], s?.items, [...path, '0'], (next) => replace([next, ...value.slice(1)]));
    }
    for (const bad of badValues(value, s, nulStrings[n++ % nulStrings.length])) {
      mutations.push({ what: `body.${path.join('.')} = ${toJson(bad).slice(0, 60)}`, body: replace(bad) });
    }
  };
  visit(base, operation.body, [], (next) => next);
  return mutations;
}

/** Malformed values of a query parameter, by what it holds. */
function badQueryValues(parameter: Parameter): string[] {
  const name = parameter.name;
  const nul = ['fuzz%00', '%00'];
  if (parameter.schema?.type === 'boolean') return [...nul, 'maybe', '2', 'true%00'];
  if (parameter.schema?.format === 'date-time' || ['since', 'until', 'from', 'to'].includes(name)) {
    return [...nul, ...OUT_OF_RANGE_TIMES.map(encodeURIComponent), '1e308', 'yesterday'];
  }
  if (['limit', 'offset'].includes(name)) return [...nul, 'abc', '-1', '1.5', '1e308', '9007199254740993', '0x10'];
  if (name === 'step') return [...nul, '1e308', '9007199254740993', '-5', '0', '5x'];
  return nul;
}

function send(base: string, method: string, fuzzCase: FuzzCase): Promise<Answer> {
  return new Promise((resolvePromise, reject) => {
    const headers: Record<string, string | number> = { authorization: `Bearer ${ADMIN_KEY}` };
    const body = fuzzCase.body === undefined ? undefined : Buffer.isBuffer(fuzzCase.body) ? fuzzCase.body : Buffer.from(fuzzCase.body);
    if (body) {
      headers['content-type'] = fuzzCase.contentType ?? 'application/json';
      headers['content-length'] = body.length;
    }
    const request = httpRequest(`${base}${fuzzCase.path}${fuzzCase.query ? `?${fuzzCase.query}` : ''}`, { method, headers, timeout: 30000 }, (response) => {
      // An event stream that opened is an answer already (and would never end).
      if (response.headers['content-type']?.includes('text/event-stream')) {
        resolvePromise({ status: response.statusCode ?? 0, body: 'an event stream' });
        request.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolvePromise({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8').slice(0, 300) }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`${method} ${fuzzCase.path}: no answer in 30 s`)));
    request.on('error', reject);
    request.end(body);
  });
}

describe('fuzz: malformed requests to every operation of the OpenAPI document', () => {
  let t: TestApp;
  let base: string;
  let document: OpenApi;
  let db: DataSource;
  let tables: string[];
  const ids: Record<string, string> = {};

  const digest = async (): Promise<string> => {
    const parts = tables.map((table) => `SELECT '${table}' AS t, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS d FROM ${table} x`);
    const rows: { t: string; d: string }[] = await db.query(parts.join(' UNION ALL '));
    return rows.map((row) => `${row.t}:${row.d}`).join(' ');
  };

  beforeAll(async () => {
    t = await createTestApp({
      BALLAST_ADMIN_KEY: ADMIN_KEY,
      SIM_TIME_SCALE: '0',
      BODY_LIMIT_KB: String(BODY_LIMIT_KB),
      IMPORT_BODY_LIMIT_MB: String(IMPORT_BODY_LIMIT_MB),
      DISCOVERY_INTERVAL_SECONDS: '0',
    });
    const admin = { authorization: `Bearer ${ADMIN_KEY}` };
    // Something behind every kind of id, so that the requests reach the handlers' own checks.
    await t.http.post('/api/v1/clusters/import').set(admin).send(testCluster('fz', { vmsPerHost: [3, 1, 0], enteringMaintenance: 1 })).expect(201);
    await t.http.post('/api/v1/rules').set(admin).send({ id: 'fz-apart', clusterId: 'fz', kind: 'vm-anti-affinity', mode: 'should', vmIds: ['fz-vm001', 'fz-vm002'] }).expect(201);
    const approved = (await t.http.post('/api/v1/clusters/fz/plans').set(admin).send({}).expect(201)).body;
    expect(approved.plan.moves.length).toBeGreaterThan(0);
    await t.http.post(`/api/v1/plans/${approved.id}/approve`).set(admin).send({ moves: [0] }).expect(202);
    const migration = await waitFor(async () => {
      const page = (await t.http.get(`/api/v1/migrations?planId=${approved.id}`).set(admin).expect(200)).body;
      const done = page.items.find((m: { state: string }) => ['succeeded', 'failed', 'cancelled'].includes(m.state));
      return done as { id: string } | undefined;
    }, 30000, 'the seeded migration to end');
    const maintenance = (await t.http.post('/api/v1/hosts/fz-h3/maintenance').set(admin).send({}).expect(202)).body;
    await waitFor(async () => (await t.http.get('/api/v1/hosts/fz-h3').set(admin).expect(200)).body.state === 'maintenance', 30000, 'fz-h3 in maintenance');
    await t.http.delete('/api/v1/hosts/fz-h3/maintenance').set(admin).send({}).expect(200);
    const proposed = (await t.http.post('/api/v1/clusters/fz/plans').set(admin).send({}).expect(201)).body;
    const webhook = (await t.http.post('/api/v1/webhooks').set(admin).send({ url: 'http://127.0.0.1:9/hook', events: ['host.failed'] }).expect(201)).body;
    const key = (await t.http.post('/api/v1/keys').set(admin).send({ name: 'fuzz viewer', role: 'viewer' }).expect(201)).body;
    Object.assign(ids, {
      clusters: 'fz',
      hosts: 'fz-h2',
      vms: 'fz-vm003',
      rules: 'fz-apart',
      plans: proposed.id,
      migrations: migration.id,
      maintenance: maintenance.id,
      webhooks: webhook.id,
      keys: key.id,
    });

    const server = t.app.getHttpServer();
    await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // The document the app serves at /docs-json: the one configureHttpApp builds from the routes.
    document = (await (await fetch(`${base}/docs-json`)).json()) as OpenApi;
    db = new DataSource({ type: 'postgres', url: t.config.DATABASE_URL });
    await db.initialize();
    const existing: { table_name: string }[] = await db.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`);
    tables = TABLES.filter((table) => existing.some((row) => row.table_name === table));
  }, 120000);

  afterAll(async () => {
    await db?.destroy();
    await t?.close();
  });

  it('answers every malformed request with a 4xx and changes nothing', async () => {
    const operations = operationsOf(document);
    expect(operations.length).toBeGreaterThan(50);
    // Strings with a NUL byte somewhere, from fast-check with a fixed seed.
    const nulStrings = fc.sample(
      fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })).map(([a, b]) => `${a}\u0000${b}`),
      { seed: SEED, numRuns: 16 },
    );
    // Whole bodies of the wrong kind: arrays, strings, numbers, booleans, null.
    const wrongBodies = fc.sample(
      fc.oneof(fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }), fc.string({ maxLength: 20 }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null)),
      { seed: SEED, numRuns: 12 },
    );
    const nested = `{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`;

    const serverErrors: string[] = [];
    const accepted: string[] = [];
    const changed: string[] = [];
    let sent = 0;
    let before = await digest();
    for (const [index, operation] of operations.entries()) {
      const pathParams = operation.parameters.filter((p) => p.in === 'path');
      const queryParams = operation.parameters.filter((p) => p.in === 'query');
      const resource = operation.path.split('/')[3];
      const concrete = (value?: string) => operation.path.replace(/\{[^}]+\}/g, () => value ?? ids[resource] ?? 'no-such-id');
      const path = concrete();
      const onApi = operation.path.startsWith('/api/');
      const large = ['/api/v1/clusters/import', '/api/v1/metrics'].includes(operation.path) && operation.method === 'POST';
      const limit = large ? IMPORT_BODY_LIMIT_MB * 1024 * 1024 : BODY_LIMIT_KB * 1024;
      const validBody = operation.body ? toJson(baseValue(operation.body, document)) : '{}';

      const cases: FuzzCase[] = [
        { what: 'text/plain body', path, contentType: 'text/plain', body: validBody },
        { what: 'form body', path, contentType: 'application/x-www-form-urlencoded', body: 'dryRun=true&name=x' },
        { what: 'JSON without a content type', path, contentType: '', body: validBody },
        { what: 'JSON nested 5000 deep', path, body: nested },
        { what: 'NUL in a body string', path, body: toJson({ name: nulStrings[index % nulStrings.length] }) },
        { what: 'NUL in a body key', path, body: '{"na\\u0000me": 1}' },
        { what: 'malformed JSON', path, body: '{"a": 1e308e5, }' },
        { what: `a body past ${limit} bytes`, path, body: toJson({ pad: 'x'.repeat(limit + 1024) }) },
        { what: 'a body that is not UTF-8', path, body: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0xff, 0x22, 0x7d]) },
        { what: 'a body with __proto__', path, body: '{"__proto__": {"admin": true}, "constructor": {"prototype": {"x": 1}}}' },
      ];
      for (const value of ['fz%00', '%00', `${encodeURIComponent(nulStrings[(index + 1) % nulStrings.length])}`]) {
        if (pathParams.length > 0) cases.push({ what: `NUL in the path id (${value})`, path: concrete(value) });
      }
      if (pathParams.length > 0) {
        cases.push({ what: 'a broken percent-encoding in the path id', path: concrete('fz%E0%A4%A') }, { what: 'a path id of 4000 characters', path: concrete('x'.repeat(4000)) });
      }
      if (onApi) cases.push({ what: 'an unknown query parameter', path, query: 'operationId=x' }, { what: 'a repeated query parameter', path, query: `${queryParams[0]?.name ?? 'x'}=1&${queryParams[0]?.name ?? 'x'}=2` });
      for (const parameter of queryParams) {
        for (const value of badQueryValues(parameter)) cases.push({ what: `query ${parameter.name}=${value}`, path, query: `${parameter.name}=${value}` });
      }
      if (operation.body) {
        // A PATCH changes what it names: its base is empty, and each mutation adds one malformed field.
        const baseBody = operation.method === 'PATCH' ? {} : baseValue(operation.body, document);
        const mutations = bodyMutations(operation, baseBody, document, nulStrings);
        for (const mutation of seededShuffle(mutations, SEED + index).slice(0, MAX_BODY_CASES)) {
          cases.push({ what: mutation.what, path, body: toJson(mutation.body) });
        }
        for (const body of wrongBodies.slice(0, 4).concat(wrongBodies.slice(4 + (index % 8), 5 + (index % 8)))) {
          cases.push({ what: `a body of the wrong kind: ${toJson(body).slice(0, 40)}`, path, body: toJson(body) });
        }
      }

      for (const fuzzCase of cases) {
        const answer = await send(base, operation.method, fuzzCase);
        sent++;
        const line = `${operation.method} ${fuzzCase.path}${fuzzCase.query ? `?${fuzzCase.query}` : ''} (${fuzzCase.what}): ${answer.status} ${answer.body}`;
        if (answer.status >= 500) serverErrors.push(line);
        else if (answer.status < 400) accepted.push(line);
      }
      const after = await digest();
      if (after !== before) changed.push(`${operation.method} ${operation.path}: ${diff(before, after)}`);
      before = after;
    }
    expect(sent).toBeGreaterThan(800);
    expect(serverErrors).toEqual([]);
    expect(accepted).toEqual([]);
    expect(changed).toEqual([]);
  }, 180000);
});

function diff(before: string, after: string): string {
  const old = new Set(before.split(' '));
  return after
    .split(' ')
    .filter((part) => !old.has(part))
    .map((part) => part.split(':')[0])
    .join(', ');
}
