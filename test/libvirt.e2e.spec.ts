import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { DomainDefinitions } from '../src/engine/libvirt/domain-definitions.js';
import { parseDomainXml } from '../src/engine/libvirt/domain-xml.js';
import { LibvirtLab } from '../src/engine/libvirt/libvirt-lab.js';
import { Virsh } from '../src/engine/libvirt/virsh.js';
import { MigrationDispatcher } from '../src/migrations/migration-dispatcher.js';
import { MigrationsService } from '../src/migrations/migrations.service.js';
import { migrationEnded } from './support/migration-ended.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

/**
 * Ballast with MIGRATION_ENGINE=libvirt against two real libvirt daemons of this machine: hosts
 * created by their connection, discovery (which keeps each domain's definition for HA), live and storage migrations through the service, cancel,
 * and a daemon killed mid-migration.
 */
const lab = new LibvirtLab({ hostIds: ['kvm-1', 'kvm-2'] });
const virsh = new Virsh();
const cluster = 'libvirt-e2e';
let t: TestApp;
const ids = { web: randomUUID(), db: randomUUID(), batch: randomUUID(), old: randomUUID(), busy: randomUUID() };

beforeAll(async () => {
  await lab.start();
  // One attempt: a migration that meets a dead daemon fails at once instead of retrying it.
  t = await createTestApp({ MIGRATION_ENGINE: 'libvirt', MIGRATION_ATTEMPTS: '1', DISCOVERY_INTERVAL_SECONDS: '0' });
}, 60_000);

afterAll(async () => {
  try {
    await t?.close();
  } finally {
    await lab.stop();
  }
}, 120_000);

async function onHost(hostId: string): Promise<string[]> {
  return (await virsh.run(lab.host(hostId).uri, ['list', '--uuid'])).split('\n').map((l) => l.trim()).filter(Boolean);
}

async function discover() {
  return (await t.http.post(`/api/v1/clusters/${cluster}/discover`).expect(200)).body;
}

/** One compute migration through the service (as an approved plan's move would be), started by the dispatcher. */
async function migrate(vmId: string, fromHostId: string, toHostId: string): Promise<string> {
  const db = t.app.get(DataSource);
  const [id] = await db.transaction((manager) =>
    t.app.get(MigrationsService).createFromMoves(manager, cluster, null, [{ move: { vmId, fromHostId, toHostId, priority: 1, reason: 'evacuation' }, moveIndex: 0 }]),
  );
  await t.app.get(MigrationDispatcher).request(cluster);
  return id;
}

const ended = (id: string, timeoutMs = 120_000) => migrationEnded(t.http, id, timeoutMs);

describe('libvirt hosts', () => {
  it('creates hosts by their connection alone: the capacity comes from libvirt', async () => {
    await t.http.post('/api/v1/clusters').send({ id: cluster, name: 'libvirt lab', policy: { automationLevel: 'manual' } }).expect(201);
    for (const connection of lab.connections) {
      const host = (
        await t.http
          .post('/api/v1/hosts')
          .send({ clusterId: cluster, id: connection.hostId, state: 'connected', connectionUri: connection.uri, migrationAddress: '127.0.0.1', migrationBandwidthMbps: 1000 })
          .expect(201)
      ).body;
      expect(host.cpuCapacityMhz).toBeGreaterThan(0);
      expect(host.memoryCapacityMb).toBeGreaterThan(0);
      expect(host.connectionUri).toBe(connection.uri);
    }
    // The snapshot carries the connection (optional fields of the format).
    const snapshot = (await t.http.get(`/api/v1/clusters/${cluster}/snapshot`).expect(200)).body;
    expect(snapshot.hosts[0].connectionUri).toBe(lab.connections[0].uri);
    expect(snapshot.hosts[0].migrationAddress).toBe('127.0.0.1');
  });

  it('refuses a bad URI (400) and an unreachable one without capacities (400 naming the host, the URI and libvirt\'s words)', async () => {
    const bad = await t.http.post('/api/v1/hosts').send({ clusterId: cluster, id: 'kvm-bad', state: 'connected', connectionUri: 'not a uri' }).expect(400);
    expect(bad.body.errors[0].field).toBe('body.connectionUri');
    const uri = 'qemu+unix:///session?socket=/nonexistent/libvirt-sock';
    const gone = await t.http.post('/api/v1/hosts').send({ clusterId: cluster, id: 'kvm-gone', state: 'connected', connectionUri: uri }).expect(400);
    expect(gone.body.errors[0].field).toBe('body.connectionUri');
    expect(gone.body.errors[0].reason).toContain('host kvm-gone');
    expect(gone.body.errors[0].reason).toContain(uri);
    await t.http.get('/api/v1/hosts/kvm-gone').expect(404);
  });

  it('discovers the domains: added, then updated, moved outside Ballast and missing', async () => {
    const web = await lab.defineGuest('kvm-1', { id: ids.web, name: 'web', dirtyRateMbps: 8 });
    await lab.defineGuest('kvm-1', { id: ids.db, name: 'db', vcpus: 2, memoryMb: 96 });
    await lab.defineGuest('kvm-2', { id: ids.batch, name: 'batch', off: true, datastore: 'lab-ds-b' });
    await lab.defineGuest('kvm-2', { id: ids.old, name: 'old' });

    const first = await discover();
    expect(first.added.sort()).toEqual([ids.web, ids.db, ids.batch, ids.old].sort());
    expect(first.unreachable).toEqual([]);
    const vm = (await t.http.get(`/api/v1/vms/${ids.db}`).expect(200)).body;
    expect(vm).toMatchObject({ clusterId: cluster, hostId: 'kvm-1', name: 'db', vcpus: 2, memoryMb: 96, powerState: 'on', datastores: ['lab-ds-a'] });
    expect((await t.http.get(`/api/v1/vms/${ids.web}`).expect(200)).body.macAddresses).toEqual([web.mac]);
    expect((await t.http.get(`/api/v1/vms/${ids.batch}`).expect(200)).body).toMatchObject({ powerState: 'off', datastores: ['lab-ds-b'] });
    expect((await t.http.get('/api/v1/hosts/kvm-1').expect(200)).body.datastores).toEqual(expect.arrayContaining(['lab-ds-a', 'lab-ds-b']));
    // Each domain's definition is kept in its datastore for HA, readable from the other host (shared storage): also for VMs that never moved.
    const definitions = new DomainDefinitions(virsh);
    const kvm2 = { hostId: 'kvm-2', uri: lab.host('kvm-2').uri };
    expect(parseDomainXml((await definitions.read(kvm2, { id: ids.db, datastores: ['lab-ds-a'] })) ?? '').uuid).toBe(ids.db);
    const kvm1 = { hostId: 'kvm-1', uri: lab.host('kvm-1').uri };
    expect(parseDomainXml((await definitions.read(kvm1, { id: ids.batch, datastores: ['lab-ds-b'] })) ?? '').uuid).toBe(ids.batch);

    // Outside Ballast: batch is started, db is live-migrated with virsh, old is removed.
    await virsh.run(lab.host('kvm-2').uri, ['start', ids.batch]);
    await virsh.run(lab.host('kvm-1').uri, ['migrate', '--live', '--persistent', '--undefinesource', '--unsafe', ids.db, lab.host('kvm-2').uri, '--migrateuri', 'tcp://127.0.0.1'], { timeoutMs: 120_000 });
    await virsh.run(lab.host('kvm-2').uri, ['destroy', ids.old]);
    await virsh.run(lab.host('kvm-2').uri, ['undefine', ids.old]);

    const second = await discover();
    expect(second.added).toEqual([]);
    expect(second.updated).toEqual([ids.batch]);
    expect(second.moved).toEqual([{ vmId: ids.db, fromHostId: 'kvm-1', toHostId: 'kvm-2' }]);
    expect(second.missing).toEqual([ids.old]);
    expect((await t.http.get(`/api/v1/vms/${ids.db}`).expect(200)).body.hostId).toBe('kvm-2');
    const old = (await t.http.get(`/api/v1/vms/${ids.old}`).expect(200)).body;
    expect(old.missingSince).toBeDefined();
    expect(old.powerState).toBe('off');

    // Nothing changed since: a third pass reports nothing.
    expect(await discover()).toMatchObject({ added: [], updated: [], moved: [], missing: [] });
  }, 180_000);

  it('live-migrates through the service with libvirt\'s progress and figures, the MAC kept, the prediction beside them', async () => {
    const id = await migrate(ids.web, 'kvm-1', 'kvm-2');
    const m = await ended(id);
    expect(m.state).toBe('succeeded');
    expect(m.result).toMatchObject({ hostId: 'kvm-2', macPreserved: true });
    expect(m.result.transferredBytes).toBeGreaterThan(0);
    expect(m.result.precopyIterations).toBeGreaterThanOrEqual(1);
    expect(m.prediction).toMatchObject({ linkMbps: 1000 });
    expect(m.prediction.totalTimeMs).toBeGreaterThan(0);
    const progress = m.events.filter((e: { type: string }) => e.type === 'progress').flatMap((e: { detail: { milestones?: unknown[] } }) => e.detail.milestones ?? [e.detail]);
    expect(progress.some((p: { phase: string }) => p.phase === 'setup')).toBe(true);
    expect(await onHost('kvm-2')).toContain(ids.web);
    expect(await onHost('kvm-1')).not.toContain(ids.web);
    expect((await t.http.get(`/api/v1/vms/${ids.web}`).expect(200)).body.hostId).toBe('kvm-2');
    // Discovery agrees with what Ballast recorded.
    expect(await discover()).toMatchObject({ moved: [], missing: [] });
  }, 180_000);

  it('moves a running VM\'s disk to another pool (storage vMotion); the VM keeps running', async () => {
    const started = (await t.http.post(`/api/v1/vms/${ids.web}/relocate-storage`).send({ datastoreId: 'lab-ds-b' }).expect(202)).body;
    const m = await ended(started.id);
    expect(m.state).toBe('succeeded');
    expect(m.result).toMatchObject({ hostId: 'kvm-2', datastoreId: 'lab-ds-b', downtimeMs: 0 });
    expect((await t.http.get(`/api/v1/vms/${ids.web}`).expect(200)).body.datastores).toEqual(['lab-ds-b']);
    const disk = parseDomainXml(await virsh.run(lab.host('kvm-2').uri, ['dumpxml', ids.web])).disks[0];
    expect(disk.path).toBe(`${lab.datastoreDir('lab-ds-b')}/web.qcow2`);
    expect((await virsh.run(lab.host('kvm-2').uri, ['domstate', ids.web])).trim()).toBe('running');
  }, 120_000);

  it('cancel aborts the running job: the VM stays on its source, in libvirt and in the record', async () => {
    await lab.defineGuest('kvm-1', { id: ids.busy, name: 'busy', memoryMb: 128, dirtyRateMbps: 400 });
    await t.http.patch('/api/v1/hosts/kvm-1').send({ migrationBandwidthMbps: 16 }).expect(200);
    await discover();
    const id = await migrate(ids.busy, 'kvm-1', 'kvm-2');
    await waitFor(async () => {
      const m = (await t.http.get(`/api/v1/migrations/${id}`).expect(200)).body;
      return m.progress?.phase === 'precopy';
    }, 60_000, 'pre-copy to start');
    await t.http.post(`/api/v1/migrations/${id}/cancel`).expect(202);
    const m = await ended(id);
    expect(m.state).toBe('cancelled');
    expect(await onHost('kvm-1')).toContain(ids.busy);
    expect(await onHost('kvm-2')).not.toContain(ids.busy);
    expect((await t.http.get(`/api/v1/vms/${ids.busy}`).expect(200)).body.hostId).toBe('kvm-1');
  }, 120_000);

  it('a daemon killed mid-migration: the VM stays where libvirt says and the record agrees', async () => {
    const id = await migrate(ids.busy, 'kvm-1', 'kvm-2');
    await waitFor(async () => (await t.http.get(`/api/v1/migrations/${id}`).expect(200)).body.progress?.phase === 'precopy', 60_000, 'pre-copy to start');
    await lab.killDaemon('kvm-2');
    const m = await ended(id);
    expect(m.state).toBe('failed');
    expect(m.error).toContain('kvm-2');
    await lab.startDaemon('kvm-2');
    // libvirt, asked again with both daemons up, has it on its source, as the record does.
    await waitFor(async () => (await onHost('kvm-1')).includes(ids.busy) && !(await onHost('kvm-2')).includes(ids.busy), 30_000, 'libvirt to settle');
    expect((await t.http.get(`/api/v1/vms/${ids.busy}`).expect(200)).body.hostId).toBe('kvm-1');
    expect(await discover()).toMatchObject({ moved: [], missing: [], unreachable: [] });
  }, 180_000);
});
