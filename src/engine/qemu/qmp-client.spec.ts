import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from './processes.js';
import { QmpClient, QmpCommandError, QmpConnectionError } from './qmp-client.js';

/** A bare QEMU, stopped before it runs any guest code (-S), with one QMP socket. */
async function startQemu(socket: string): Promise<ChildProcess> {
  const child = spawn('qemu-system-x86_64', ['-machine', 'pc,accel=tcg', '-m', '16', '-nodefaults', '-display', 'none', '-S', '-qmp', `unix:${socket},server=on,wait=off`], {
    stdio: 'ignore',
  });
  for (let i = 0; i < 250; i++) {
    if (await stat(socket).then(() => true, () => false)) return child;
    await sleep(20);
  }
  throw new Error('QEMU did not create its QMP socket');
}

describe('QmpClient against a real QEMU', () => {
  let dir: string;
  let socket: string;
  let qemu: ChildProcess;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bq-qmp-'));
    socket = join(dir, 'qmp.sock');
    qemu = await startQemu(socket);
  });

  afterAll(async () => {
    qemu.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('negotiates capabilities and matches concurrent answers to their commands by id', async () => {
    const client = await QmpClient.connect(socket);
    try {
      const [status, name, kvm, version] = await Promise.all([
        client.execute<{ status: string }>('query-status'),
        client.execute<Record<string, unknown>>('query-name'),
        client.execute<{ enabled: boolean }>('query-kvm'),
        client.execute<{ qemu: { major: number } }>('query-version'),
      ]);
      expect(status.status).toBe('prelaunch');
      expect(name).toEqual({});
      expect(kvm.enabled).toBe(false);
      expect(version.qemu.major).toBeGreaterThanOrEqual(7);
    } finally {
      await client.close();
    }
  });

  it('rejects a failing command with its QMP error class and keeps the connection usable', async () => {
    const client = await QmpClient.connect(socket);
    try {
      const failure = await client.execute('qom-get', { path: '/machine/no-such-device', property: 'mac' }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(QmpCommandError);
      expect((failure as QmpCommandError).errorClass).toBe('DeviceNotFound');
      expect((await client.execute<{ status: string }>('query-status')).status).toBe('prelaunch');
    } finally {
      await client.close();
    }
  });

  it('delivers asynchronous events', async () => {
    const client = await QmpClient.connect(socket);
    try {
      const resumed = client.waitForEvent('RESUME');
      await client.execute('cont');
      expect((await resumed).event).toBe('RESUME');
      const stopped = client.waitForEvent('STOP');
      await client.execute('stop');
      expect((await stopped).timestamp?.seconds).toBeGreaterThan(0);
    } finally {
      await client.close();
    }
  });

  it('reports a monitor held by another client as a timeout, and serves the next client once it leaves', async () => {
    const first = await QmpClient.connect(socket);
    const refused = await QmpClient.connect(socket, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(QmpConnectionError);
    await first.close();
    const second = await QmpClient.connect(socket);
    expect((await second.execute<{ status: string }>('query-status')).status).toBeDefined();
    await second.close();
  });

  it('fails a connection to a socket nobody listens on', async () => {
    await expect(QmpClient.connect(join(dir, 'nobody.sock'), { timeoutMs: 500 })).rejects.toBeInstanceOf(QmpConnectionError);
  });

  it('fails the commands in flight when QEMU goes away', async () => {
    const ownSocket = join(dir, 'dying.sock');
    const dying = await startQemu(ownSocket);
    const client = await QmpClient.connect(ownSocket);
    const pendingEvent = client.waitForEvent('NEVER', undefined, 30_000);
    const quitting = client.execute('quit').catch(() => 'closed');
    await expect(pendingEvent).rejects.toBeInstanceOf(QmpConnectionError);
    await client.done;
    expect(client.closed).toBe(true);
    await quitting;
    await expect(client.execute('query-status')).rejects.toBeInstanceOf(QmpConnectionError);
    dying.kill('SIGKILL');
  });
});
