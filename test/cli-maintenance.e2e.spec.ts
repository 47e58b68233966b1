import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Snapshot } from '../src/planner/snapshot.js';
import { evacuationCluster } from './support/clusters.js';
import { runNode } from './support/run-node.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/** `ballast maintenance ...` against a running service, as an operator types it. */
let t: TestApp;
let url: string;

function ballast(...args: string[]) {
  return runNode('dist/src/cli/main.js', ['maintenance', ...args], { BALLAST_URL: url, BALLAST_POLL_MS: '100' }, 60000);
}

beforeAll(async () => {
  t = await createTestApp({ SIM_TIME_SCALE: '0.005' });
  await t.app.listen(0, '127.0.0.1');
  url = (await t.app.getUrl()).replace('[::1]', '127.0.0.1');
});

afterAll(async () => {
  await t?.close();
});

function connectedCluster(id: string, vms: number): Snapshot {
  const snapshot = evacuationCluster({ id, vms });
  snapshot.hosts[0].state = 'connected';
  return snapshot;
}

describe('ballast maintenance', () => {
  it('enter --dry-run prints the plan and changes nothing', async () => {
    await t.http.post('/api/v1/clusters/import').send(connectedCluster('cli', 4)).expect(201);
    const { code, stdout, stderr } = await ballast('enter', 'cli-h1', '--dry-run');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toContain('dry run: host cli-h1 can be emptied: 4 VMs, 16 GB');
    expect(stdout.match(/cli-vm00\d +cli-h1 -> cli-h[234]/g)).toHaveLength(4);
    expect((await t.http.get('/api/v1/hosts/cli-h1').expect(200)).body.state).toBe('connected');
  });

  it('enter --wait shows the progress until the host is in maintenance', async () => {
    const { code, stdout, stderr } = await ballast('enter', 'cli-h1', '--wait');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^host cli-h1 is entering maintenance: 4 VMs, 16\.0 GB to move \(operation [0-9a-f-]{36}\)$/);
    expect(lines.some((line) => /^\[#*\.*\] \d\/4 VMs {2}[\d.]+\/16\.0 GB {2}[\d.]+ [MG]b\/s {2}ETA .+ {2}\d in flight$/.test(line))).toBe(true);
    expect(lines).toContain('[########################] 4/4 VMs  16.0/16.0 GB  0 Mb/s  ETA 0 s  0 in flight');
    expect(lines.at(-1)).toMatch(/^host cli-h1 is in maintenance \(4 VMs, 16\.0 GB moved in .+\)$/);
    expect((await t.http.get('/api/v1/hosts/cli-h1').expect(200)).body.state).toBe('maintenance');
  });

  it('exit --return-vms --wait brings the host back and waits until its VMs are home', async () => {
    const { code, stdout, stderr } = await ballast('exit', 'cli-h1', '--return-vms', '--wait');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toBe('host cli-h1 is connected');
    expect(lines[1]).toMatch(/^bringing back 4 VMs \(plan [0-9a-f-]{36}\)$/);
    expect(lines.slice(2, -1).every((line) => /^[0-4]\/4 VMs home$/.test(line))).toBe(true);
    expect(lines.at(-2)).toBe('4/4 VMs home');
    expect(lines.at(-1)).toBe('host cli-h1 is back with its 4 VMs');
    const vms = (await t.http.get('/api/v1/vms?hostId=cli-h1').expect(200)).body;
    expect(vms.total).toBe(4);
  });

  it('exit --wait while the evacuation runs waits for its migrations to end', async () => {
    await t.http.post('/api/v1/clusters/import').send(connectedCluster('back', 3)).expect(201);
    await ballast('enter', 'back-h1').then((r) => expect(r.code).toBe(0));
    const { code, stdout, stderr } = await ballast('exit', 'back-h1', '--wait');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout.trim().split('\n').at(-1)).toBe('host back-h1 is back');
    const migrations = (await t.http.get('/api/v1/migrations?clusterId=back').expect(200)).body.items;
    expect(migrations.every((m: { state: string }) => ['succeeded', 'cancelled'].includes(m.state))).toBe(true);
    expect((await t.http.get('/api/v1/hosts/back-h1').expect(200)).body.state).toBe('connected');
  });

  it('a refusal is one line on stderr and exit code 1', async () => {
    await t.http.post('/api/v1/clusters/import').send(evacuationCluster({ id: 'busy', vms: 1 })).expect(201);
    const { code, stdout, stderr } = await ballast('enter', 'busy-h1');
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe('ballast: host busy-h1 is already entering-maintenance\n');
    const unknown = await ballast('exit', 'nope');
    expect(unknown).toMatchObject({ code: 1, stderr: 'ballast: host "nope" does not exist\n' });
  });

  it('bad usage is exit code 2; an unreachable API is one line naming the URL', async () => {
    expect(await ballast('enter')).toMatchObject({ code: 2, stderr: expect.stringMatching(/^ballast: expected .+\n$/) });
    expect(await ballast('enter', 'x', '--timeout', 'soon')).toMatchObject({ code: 2, stderr: expect.stringContaining('--timeout') });
    expect(await ballast('enter', 'x', '--fast')).toMatchObject({ code: 2 });
    // Nothing listens there (fetch refuses port 1 on principle, hence a high one).
    const down = await runNode('dist/src/cli/main.js', ['maintenance', 'enter', 'x'], { BALLAST_URL: 'http://127.0.0.1:59999' });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^ballast: cannot reach Ballast at http:\/\/127\.0\.0\.1:59999 \(ECONNREFUSED\)/);
    expect(down.stderr.trim().split('\n')).toHaveLength(1);
  });
});
