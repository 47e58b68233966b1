import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { LibvirtLab } from '../src/engine/libvirt/libvirt-lab.js';
import { Virsh } from '../src/engine/libvirt/virsh.js';
import { MigrationDispatcher } from '../src/migrations/migration-dispatcher.js';
import { MigrationsService } from '../src/migrations/migrations.service.js';
import { type ServiceProcess, startService } from './support/run-node.js';
import { migrationEnded } from './support/migration-ended.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

/**
 * A worker process (the built service, BALLAST_ROLES=worker; `npm run build` first) killed with
 * SIGKILL in the middle of a libvirt live migration between two real daemons: another worker
 * takes the migration over, and afterwards the VM runs on exactly one host, the one the record
 * says, and it was moved once.
 */
const lab = new LibvirtLab({ hostIds: ['crash-kvm-1', 'crash-kvm-2'] });
const virsh = new Virsh();
const cluster = 'libvirt-crash';
const WORKER_READY = /migrations at once, engine libvirt/;
let t: TestApp;
const workers: ServiceProcess[] = [];

beforeAll(async () => {
  await lab.start();
  // API and scheduler here; the migrations run in worker processes. A dead worker's lock expires in 3 s.
  t = await createTestApp({ BALLAST_ROLES: 'api,scheduler', MIGRATION_ENGINE: 'libvirt', MIGRATION_LOCK_SECONDS: '3', DISCOVERY_INTERVAL_SECONDS: '0' });
}, 60_000);

afterAll(async () => {
  try {
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
    await t?.close();
  } finally {
    await lab.stop();
  }
}, 120_000);

async function startWorker(): Promise<ServiceProcess> {
  const worker = await startService({ ...t.env, BALLAST_ROLES: 'worker' }, WORKER_READY, 60_000);
  workers.push(worker);
  return worker;
}

async function onHost(hostId: string): Promise<string[]> {
  return (await virsh.run(lab.host(hostId).uri, ['list', '--all', '--uuid'])).split('\n').map((l) => l.trim()).filter(Boolean);
}

describe('a worker killed mid-migration (libvirt)', () => {
  it('is taken over: the VM is where libvirt says, the record agrees, moved once', async () => {
    await t.http.post('/api/v1/clusters').send({ id: cluster, name: 'libvirt crash', policy: { automationLevel: 'manual' } }).expect(201);
    // A slow link and a guest that keeps dirtying memory: the migration takes long enough to be cut.
    for (const connection of lab.connections) {
      await t.http
        .post('/api/v1/hosts')
        .send({ clusterId: cluster, id: connection.hostId, state: 'connected', connectionUri: connection.uri, migrationAddress: '127.0.0.1', migrationBandwidthMbps: 80 })
        .expect(201);
    }
    const vmId = randomUUID();
    await lab.defineGuest('crash-kvm-1', { id: vmId, name: 'crash', memoryMb: 128, dirtyRateMbps: 40 });
    await t.http.post(`/api/v1/clusters/${cluster}/discover`).expect(200);

    const doomed = await startWorker();
    const db = t.app.get(DataSource);
    const [id] = await db.transaction((manager) =>
      t.app.get(MigrationsService).createFromMoves(manager, cluster, null, [{ move: { vmId, fromHostId: 'crash-kvm-1', toHostId: 'crash-kvm-2', priority: 1, reason: 'evacuation' }, moveIndex: 0 }]),
    );
    await t.app.get(MigrationDispatcher).request(cluster);
    await waitFor(async () => (await t.http.get(`/api/v1/migrations/${id}`).expect(200)).body.progress?.phase === 'precopy', 60_000, 'pre-copy to start');
    expect(await doomed.stop('SIGKILL')).toBe('SIGKILL');
    workers.splice(workers.indexOf(doomed), 1);
    expect((await t.http.get(`/api/v1/migrations/${id}`).expect(200)).body.state).toBe('running');

    await startWorker();
    const done = await migrationEnded(t.http, id, 180_000, 'the migration to be taken over and end');
    expect(done.events.some((e: { type: string }) => e.type === 'reconciled')).toBe(true);
    // Taken over while libvirt still migrated (the killed worker's virsh carries on): that job was
    // followed to its end, not a second one started (its bytes go on from where they were).
    type Event = { type: string; detail: { action?: string; transferredBytes?: number } };
    const events = done.events as Event[];
    const takeover = events.findIndex((e) => e.type === 'reconciled' && e.detail.action === 'migrating again');
    if (takeover >= 0) {
      const sent = (list: Event[]) => list.filter((e) => e.type === 'progress').map((e) => e.detail.transferredBytes ?? 0);
      const before = Math.max(...sent(events.slice(0, takeover)));
      const after = sent(events.slice(takeover + 1)).filter((bytes) => bytes > 0);
      if (after.length > 0) expect(after[0]).toBeGreaterThanOrEqual(before);
    }
    // Started once by the first worker, ended once.
    expect(done.events.filter((e: { toState: string }) => e.toState === 'running')).toHaveLength(1);
    expect(done.events.filter((e: { toState: string }) => ['succeeded', 'failed', 'cancelled'].includes(e.toState))).toHaveLength(1);

    // libvirt, asked once everything has settled: the domain exists on exactly one host and runs there.
    await waitFor(async () => (await virsh.run(lab.host('crash-kvm-1').uri, ['domjobinfo', vmId]).catch(() => '')).includes('None') || !(await onHost('crash-kvm-1')).includes(vmId), 60_000, 'no job left');
    const holders = [];
    for (const hostId of ['crash-kvm-1', 'crash-kvm-2']) if ((await onHost(hostId)).includes(vmId)) holders.push(hostId);
    expect(holders).toHaveLength(1);
    expect((await virsh.run(lab.host(holders[0]).uri, ['domstate', vmId])).trim()).toBe('running');
    const vm = (await t.http.get(`/api/v1/vms/${vmId}`).expect(200)).body;
    expect(vm.hostId).toBe(holders[0]);
    // The record says where it went: succeeded on the target, or failed with the VM on its source.
    expect(holders[0]).toBe(done.state === 'succeeded' ? 'crash-kvm-2' : 'crash-kvm-1');
    // One migration of the VM, no second move; a fresh discovery finds nothing to correct.
    expect((await t.http.get(`/api/v1/migrations?vmId=${vmId}`).expect(200)).body.total).toBe(1);
    expect((await t.http.post(`/api/v1/clusters/${cluster}/discover`).expect(200)).body).toMatchObject({ moved: [], missing: [], unreachable: [] });
  }, 360_000);
});
