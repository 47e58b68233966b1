import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ServiceProcess, startService } from './support/run-node.js';
import { deleteKeysUnder } from '../src/redis/delete-keys.js';
import { createTestDatabase } from './support/test-app.js';
import { waitFor } from './support/wait.js';

/** `npm start` on an empty database: the demo cluster's load moves by itself. */
let service: ServiceProcess;
let api: string;
let database: { url: string; drop(): Promise<void> };
const REDIS_PREFIX = `ballast-test-demo-${process.pid}`;

beforeAll(async () => {
  database = await createTestDatabase();
  service = await startService(
    { DATABASE_URL: database.url, REDIS_PREFIX, PORT: '0', BALLAST_DEMO: 'true', BALANCE_INTERVAL_SECONDS: '0', METRICS_INTERVAL_SECONDS: '1' },
    /API on (http:\/\/\S+)\/api\/v1/,
    60000,
  );
  api = `${/API on (http:\/\/\S+)\/api\/v1/.exec(service.output())![1].replace('localhost', '127.0.0.1')}/api/v1`;
});

afterAll(async () => {
  await service?.stop();
  await database?.drop();
  await deleteKeysUnder(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', REDIS_PREFIX);
});

async function demoDemand(): Promise<Map<string, number>> {
  const body = (await (await fetch(`${api}/vms?clusterId=demo&limit=1000`)).json()) as { items: { id: string; cpuDemandMhz: number; powerState: string }[] };
  return new Map(body.items.filter((vm) => vm.powerState === 'on').map((vm) => [vm.id, vm.cpuDemandMhz]));
}

describe('the demo', () => {
  it('measures its VMs from the start: their demand changes over time', async () => {
    const first = await demoDemand();
    expect(first.size).toBe(148);
    const changed = await waitFor(async () => {
      const later = await demoDemand();
      const moved = [...later].filter(([id, mhz]) => Math.abs(mhz - first.get(id)!) > 1e-6).length;
      return moved > later.size / 2 && moved;
    }, 60000, 'most VMs to change their demand');
    expect(changed).toBeGreaterThan(74);
  }, 120000);

  it('shows in its status: two answers a few collections apart differ', async () => {
    const status = async () => (await (await fetch(`${api}/clusters/demo/status`)).json()) as { imbalance: number; hosts: { cpuUtilization: number }[]; metrics: { source: string; staleVms: number } };
    const first = await status();
    expect(first.metrics).toMatchObject({ source: 'simulated', staleVms: 0 });
    const later = await waitFor(async () => {
      const next = await status();
      return next.hosts.some((h, i) => h.cpuUtilization !== first.hosts[i].cpuUtilization) && next;
    }, 60000, 'the status to change');
    expect(later.imbalance).not.toBe(first.imbalance);
  }, 120000);
});
