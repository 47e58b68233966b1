import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { EvaluationService } from '../src/closedloop/evaluation.service.js';
import { host, snapshot, vm } from './support/builders.js';
import { runNode } from './support/run-node.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/** `ballast status CLUSTER` against a running service. */
let t: TestApp;
let url: string;

function ballast(...args: string[]) {
  return runNode('dist/src/cli/main.js', ['status', ...args], { BALLAST_URL: url }, 60000);
}

const small = { cpuCapacityMhz: 10_000, memoryCapacityMb: 10_000 };

beforeAll(async () => {
  // No scheduler role: the closed loop evaluates when the test says so.
  t = await createTestApp({ BALLAST_ROLES: 'api,worker', BALANCE_INTERVAL_SECONDS: '300' });
  await t.app.listen(0, '127.0.0.1');
  url = (await t.app.getUrl()).replace('[::1]', '127.0.0.1');
  await t.http
    .post('/api/v1/clusters/import')
    .send(
      snapshot({
        clusterId: 'glance',
        policy: { migrationThreshold: 3 },
        hosts: [host('glance-h1', small), host('glance-h2', small)],
        vms: [vm('glance-a', 'glance-h1', { cpuDemandMhz: 9000, memoryActiveMb: 5000, memoryMb: 5000 }), vm('glance-b', 'glance-h2', { cpuDemandMhz: 1000, memoryActiveMb: 2500, memoryMb: 2500 })],
      }),
    )
    .expect(201);
});

afterAll(async () => {
  await t?.close();
});

describe('ballast status', () => {
  it('prints the imbalance, the metrics, the planning and a bar per host', async () => {
    const { code, stdout, stderr } = await ballast('glance');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const lines = stdout.split('\n');
    // CPU sd(0.9, 0.1) = 0.4, memory sd(0.5, 0.25) = 0.125: (0.4 + 0.125) / 2.
    expect(lines[0]).toBe('cluster glance: imbalance 0.2625 (target 0.08: above); overloaded above CPU 85 %, memory 85 %');
    expect(lines[1]).toBe('metrics: simulated, newest sample never, 2 of 2 powered-on VMs stale');
    expect(lines[2]).toBe('planning: no run yet');
    expect(lines[4]).toMatch(/^HOST +STATE +VMS +CPU +MEMORY$/);
    expect(lines[5]).toBe('glance-h1  connected    1  [##################..]  90 %!  [##########..........]  50 %');
    expect(lines[6]).toBe('glance-h2  connected    1  [##..................]  10 %   [#####...............]  25 %');
  });

  it("prints what the last evaluation decided and why, and when the next is due", async () => {
    const outcome = await t.app.get(EvaluationService).evaluate('glance');
    const { code, stdout } = await ballast('glance');
    expect(code).toBe(0);
    const { planning } = (await t.http.get('/api/v1/clusters/glance/status').expect(200)).body;
    const clock = (iso: string) => new Date(iso).toISOString().slice(11, 19);
    expect(stdout.split('\n')[2]).toBe(`planning: last ${clock(planning.last.at)} holding: ${outcome.summary}; next ${clock(planning.nextAt)}`);
    expect(outcome.summary).toMatch(/waiting for it to hold/);
  });

  it('--json prints the API answer', async () => {
    const { code, stdout } = await ballast('glance', '--json');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ clusterId: 'glance', imbalance: expect.closeTo(0.2625, 9), hosts: [{ id: 'glance-h1', overloaded: true }, { id: 'glance-h2', overloaded: false }] });
  });

  it('an unknown cluster is one line and exit code 1; no cluster is exit code 2', async () => {
    const unknown = await ballast('nowhere');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('ballast: cluster "nowhere" does not exist\n');
    const missing = await ballast();
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
  });
});
