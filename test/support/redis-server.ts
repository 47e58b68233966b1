import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from './wait.js';
import { freePort } from './free-port.js';

/**
 * A redis-server of the test's own on a free loopback port, which the test may kill and start again
 * (never the machine's shared Redis). Its data lives in an append-only file written at every command,
 * so a restart after a kill finds what was there, as a persistent Redis does.
 */
export interface RedisServer {
  url: string;
  /** Kills it at once (SIGKILL): connections drop, nothing answers on the port. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data (if it is not running), and waits until it answers. */
  start(): Promise<void>;
  /** Kills it and removes its data. */
  remove(): Promise<void>;
}


export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ballast-test-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;

  const kill = async () => {
    const running = child;
    child = null;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  };
  const start = async () => {
    if (child && child.exitCode === null && child.signalCode === null) return;
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction'],
      { stdio: 'ignore' },
    );
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await waitFor(async () => {
        try {
          if (probe.status !== 'ready') await probe.connect();
          return (await probe.ping()) === 'PONG';
        } catch {
          probe.disconnect();
          return false;
        }
      }, 20000, `redis-server on port ${port}`);
    } finally {
      probe.disconnect();
    }
  };
  await start();
  return {
    url,
    kill,
    start,
    async remove() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
