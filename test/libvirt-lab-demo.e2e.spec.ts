import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { deleteKeysUnder } from '../src/redis/delete-keys.js';
import { type ServiceProcess, startService } from './support/run-node.js';
import { createTestDatabase } from './support/test-app.js';
import { waitFor } from './support/wait.js';
import { freePort } from './support/free-port.js';

/**
 * The lab demo as a newcomer runs it: the built service (dist/src/main.js; `npm run build` first)
 * with MIGRATION_ENGINE=libvirt BALLAST_DEMO=libvirt-lab sets up two libvirt daemons of this
 * machine with five guests, discovers, measures and live-migrates them (the fully-automated
 * cluster's closed loop), and tears the lab down when it stops.
 */
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CLUSTER = 'libvirt-lab';
const prefix = `ballast-test-${randomUUID().slice(0, 8)}`;
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let service: ServiceProcess | undefined;
let api = '';

interface Vm {
  id: string;
  hostId: string;
  name: string;
  powerState: string;
  cpuDemandMhz: number;
}

async function get<T>(path: string): Promise<T> {
  const response = await fetch(`${api}${path}`);
  if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}


/** The processes whose command line names `dir` (daemons and guests of the lab). */
function processesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmdline.includes(dir)) found.push(`${pid}: ${cmdline.slice(0, 120)}`);
    } catch {
      /* gone meanwhile */
    }
  }
  return found;
}

beforeAll(async () => {
  database = await createTestDatabase();
  const port = await freePort();
  api = `http://127.0.0.1:${port}/api/v1`;
  service = await startService(
    {
      DATABASE_URL: database.url,
      REDIS_URL,
      REDIS_PREFIX: prefix,
      PORT: String(port),
      HOST: '127.0.0.1',
      MIGRATION_ENGINE: 'libvirt',
      BALLAST_DEMO: 'libvirt-lab',
      // Measured within the test's time (the lab's policy evaluates every 30 s itself).
      METRICS_INTERVAL_SECONDS: '3',
      DISCOVERY_INTERVAL_SECONDS: '0',
      LIBVIRT_DIRTY_RATE_INTERVAL_SECONDS: '0',
    },
    /demo cluster:/,
    180_000,
  );
}, 240_000);

afterAll(async () => {
  try {
    await service?.stop('SIGKILL');
  } finally {
    await database?.drop();
    await deleteKeysUnder(REDIS_URL, prefix);
  }
}, 60_000);

describe('BALLAST_DEMO=libvirt-lab', () => {
  let labDir = '';

  it('sets up the lab: the cluster of two hosts known by their connection, its five guests discovered on the first', async () => {
    labDir = /libvirt lab in (\S+):/.exec(service!.output())?.[1] ?? '';
    expect(labDir).toMatch(/ballast-libvirt-lab-/);
    expect(existsSync(labDir)).toBe(true);
    const hosts = (await get<{ items: { id: string; connectionUri: string; cpuCapacityMhz: number }[] }>(`/hosts?clusterId=${CLUSTER}`)).items;
    expect(hosts.map((h) => h.id).sort()).toEqual(['lab-kvm-1', 'lab-kvm-2']);
    for (const host of hosts) {
      expect(host.connectionUri).toContain(labDir);
      // Discovered from nodeinfo, not the placeholder the demo created the host with.
      expect(host.cpuCapacityMhz).toBeGreaterThan(1);
    }
    const vms = (await get<{ items: Vm[] }>(`/vms?clusterId=${CLUSTER}`)).items;
    expect(vms.map((vm) => vm.name).sort()).toEqual(['cache-1', 'cache-2', 'idle-1', 'web-1', 'web-2']);
    expect(vms.every((vm) => vm.hostId === 'lab-kvm-1' && vm.powerState === 'on')).toBe(true);
  });

  it('measures the guests with the libvirt source: the ones that spin their CPU read higher than the idle one', async () => {
    const vms = await waitFor(
      async () => {
        const items = (await get<{ items: Vm[] }>(`/vms?clusterId=${CLUSTER}`)).items;
        const spinning = items.filter((vm) => vm.name.startsWith('web-'));
        const idle = items.find((vm) => vm.name === 'idle-1')!;
        return spinning.every((vm) => vm.cpuDemandMhz > idle.cpuDemandMhz) ? items : null;
      },
      60_000,
      'the spinning guests to read higher than the idle one',
    );
    const web = vms.find((vm) => vm.name === 'web-1')!;
    const series = await get<{ points: unknown[] }>(`/vms/${web.id}/metrics`);
    expect(series.points.length).toBeGreaterThan(0);
    const status = await get<{ hosts: { id: string }[] }>(`/clusters/${CLUSTER}/status`);
    expect(status.hosts).toHaveLength(2);
  }, 90_000);

  it('the closed loop live-migrates guests to the second host; libvirt and the inventory agree', async () => {
    const moved = await waitFor(
      async () => {
        const items = (await get<{ items: { id: string; state: string; vmId: string; targetHostId: string }[] }>(`/migrations?clusterId=${CLUSTER}`)).items;
        const done = items.filter((m) => m.state === 'succeeded');
        const open = items.filter((m) => !['succeeded', 'failed', 'cancelled'].includes(m.state));
        return done.length > 0 && open.length === 0 ? { done, failed: items.filter((m) => m.state === 'failed') } : null;
      },
      180_000,
      'the closed loop to migrate guests',
    );
    expect(moved.failed).toEqual([]);
    const vms = (await get<{ items: Vm[] }>(`/vms?clusterId=${CLUSTER}`)).items;
    for (const m of moved.done) {
      const detail = await get<{ result: { hostId: string; macPreserved: boolean; transferredBytes: number } }>(`/migrations/${m.id}`);
      expect(detail.result).toMatchObject({ hostId: m.targetHostId, macPreserved: true });
      expect(detail.result.transferredBytes).toBeGreaterThan(0);
    }
    // Where the inventory has each guest is where libvirt runs it (a fresh look at both daemons).
    const discovered = await fetch(`${api}/clusters/${CLUSTER}/discover`, { method: 'POST' });
    expect(discovered.status).toBe(200);
    expect(await discovered.json()).toMatchObject({ moved: [], missing: [], unreachable: [] });
    expect(vms.filter((vm) => vm.hostId === 'lab-kvm-2').length).toBeGreaterThan(0);
  }, 240_000);

  it('tears the lab down on stop: no daemon or guest left running, its directory gone', async () => {
    expect(await service!.stop('SIGTERM')).toBe('SIGTERM');
    service = undefined;
    expect(processesUnder(labDir)).toEqual([]);
    expect(existsSync(labDir)).toBe(false);
  }, 120_000);
});
