import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { testCluster } from './support/clusters.js';
import { runNode } from './support/run-node.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/** `ballast vm migrate ...` against a running service, as an operator types it. */
let t: TestApp;
let url: string;

function ballast(...args: string[]) {
  return runNode('dist/src/cli/main.js', ['vm', ...args], { BALLAST_URL: url, BALLAST_POLL_MS: '100' }, 60000);
}

beforeAll(async () => {
  t = await createTestApp({ SIM_TIME_SCALE: '0.005', SIM_FAULTS: 'vm:cvm-vm002' });
  await t.app.listen(0, '127.0.0.1');
  url = (await t.app.getUrl()).replace('[::1]', '127.0.0.1');
  const cluster = testCluster('cvm', { vmsPerHost: [2, 0, 0] });
  cluster.hosts[2].state = 'maintenance';
  await t.http.post('/api/v1/clusters/import').send(cluster).expect(201);
});

afterAll(async () => {
  await t?.close();
});

describe('ballast vm migrate', () => {
  it('--wait follows the migration until the VM is on the host', async () => {
    const { code, stdout, stderr } = await ballast('migrate', 'cvm-vm001', 'cvm-h2', '--wait');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^migrating VM cvm-vm001 from cvm-h1 to cvm-h2 \(migration [0-9a-f-]{36}\)$/);
    expect(lines.at(-1)).toMatch(/^VM cvm-vm001 is on cvm-h2 \(migration [0-9a-f-]{36} succeeded\)$/);
    expect((await t.http.get('/api/v1/vms/cvm-vm001').expect(200)).body.hostId).toBe('cvm-h2');
  });

  it('a migration that fails is one line on stderr and exit code 1', async () => {
    const { code, stdout, stderr } = await ballast('migrate', 'cvm-vm002', 'cvm-h2', '--wait');
    expect(code).toBe(1);
    expect(stdout).toMatch(/^migrating VM cvm-vm002 from cvm-h1 to cvm-h2/);
    expect(stderr).toMatch(/^ballast: migration [0-9a-f-]{36} of VM cvm-vm002 failed: .+\n$/);
    expect((await t.http.get('/api/v1/vms/cvm-vm002').expect(200)).body.hostId).toBe('cvm-h1');
  });

  it('a refusal is the reason on one line and exit code 1; bad usage exit code 2', async () => {
    expect(await ballast('migrate', 'cvm-vm002', 'cvm-h3')).toEqual({ code: 1, stdout: '', stderr: 'ballast: VM cvm-vm002 cannot migrate to cvm-h3: cvm-h3 is maintenance\n' });
    expect(await ballast('migrate', 'nope', 'cvm-h2')).toMatchObject({ code: 1, stderr: 'ballast: VM "nope" does not exist\n' });
    expect(await ballast('migrate', 'cvm-vm002')).toMatchObject({ code: 2, stderr: expect.stringMatching(/^ballast: expected "vm migrate VM HOST \[--wait\]"/) });
    expect(await ballast('move', 'cvm-vm002', 'cvm-h2')).toMatchObject({ code: 2 });
    expect(await ballast('migrate', 'cvm-vm002', 'cvm-h2', '--now')).toMatchObject({ code: 2 });
  });
});
