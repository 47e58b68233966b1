import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MigrationCancelledError, type MigrationProgress, type MigrationRequest } from '../migration-engine.js';
import { DomainDefinitions } from './domain-definitions.js';
import { parseDomainXml } from './domain-xml.js';
import { staticDirectory } from './host-connections.js';
import { LibvirtEngine } from './libvirt-engine.js';
import { LibvirtLab } from './libvirt-lab.js';
import { Virsh } from './virsh.js';
import { waitFor } from '../../../test/support/wait.js';

/** The libvirt engine against two real session daemons of this machine (see LibvirtLab). */
const lab = new LibvirtLab({ hostIds: ['kvm-a', 'kvm-b'] });
const virsh = new Virsh();
let engine: LibvirtEngine;

beforeAll(async () => {
  await lab.start();
  engine = new LibvirtEngine({ hosts: staticDirectory(lab.connections), pollIntervalMs: 100 });
}, 60_000);

afterAll(async () => {
  await engine?.close();
  await lab.stop();
}, 60_000);

function request(vmId: string, mac: string, from: string, to: string, extra: Partial<MigrationRequest> = {}): MigrationRequest {
  return {
    migrationId: randomUUID(),
    kind: 'compute',
    vm: { id: vmId, memoryMb: 64, macAddress: mac, datastores: ['lab-ds-a'] },
    source: { id: from, migrationBandwidthMbps: 1000 },
    target: { id: to, migrationBandwidthMbps: 1000 },
    downtimeLimitMs: 300,
    ...extra,
  };
}

async function domains(hostId: string): Promise<string[]> {
  return (await virsh.run(lab.host(hostId).uri, ['list', '--all', '--uuid'])).split('\n').map((l) => l.trim()).filter(Boolean);
}

describe('libvirt engine', () => {
  it('live-migrates a running domain: persistent on the target, undefined on the source, MAC kept, libvirt figures', async () => {
    const id = randomUUID();
    const { mac } = await lab.defineGuest('kvm-a', { id, name: 'mig-1', dirtyRateMbps: 40 });
    const progress: MigrationProgress[] = [];
    const result = await engine.migrate(request(id, mac, 'kvm-a', 'kvm-b'), { onProgress: (p) => void progress.push(p) });

    expect(result.hostId).toBe('kvm-b');
    expect(result.macPreserved).toBe(true);
    expect(result.precopyIterations).toBeGreaterThanOrEqual(1);
    expect(result.transferredBytes).toBeGreaterThan(0);
    expect(result.totalTimeMs).toBeGreaterThan(0);
    expect(progress[0].phase).toBe('setup');
    expect(await domains('kvm-a')).not.toContain(id);
    expect(await domains('kvm-b')).toContain(id);
    expect(await virsh.run(lab.host('kvm-b').uri, ['dominfo', id])).toMatch(/Persistent:\s+yes/);
    expect(parseDomainXml(await virsh.run(lab.host('kvm-b').uri, ['dumpxml', id])).nics[0].mac).toBe(mac);
    expect(await engine.locate(id)).toMatchObject({ hostId: 'kvm-b', running: true, migrating: false });
    // Asked again for the same move (its driver died after the switchover): done, nothing moves.
    const again = await engine.migrate({ ...request(id, mac, 'kvm-a', 'kvm-b') });
    expect(again.hostId).toBe('kvm-b');
  }, 90_000);

  it('cancel aborts the job and the domain stays running on its source', async () => {
    const id = randomUUID();
    const { mac } = await lab.defineGuest('kvm-a', { id, name: 'cancel-1', memoryMb: 128, dirtyRateMbps: 400 });
    const controller = new AbortController();
    const progress: MigrationProgress[] = [];
    // A slow link and a guest that dirties faster than it: the job is still copying when cancelled.
    const run = engine.migrate(request(id, mac, 'kvm-a', 'kvm-b', { source: { id: 'kvm-a', migrationBandwidthMbps: 16 } }), {
      signal: controller.signal,
      onProgress: (p) => {
        progress.push(p);
        if (p.phase === 'precopy') controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(MigrationCancelledError);
    expect(progress.some((p) => p.phase === 'precopy' && (p.totalBytes ?? 0) > 0)).toBe(true);
    expect(await engine.locate(id)).toMatchObject({ hostId: 'kvm-a', running: true, migrating: false });
    expect(await domains('kvm-b')).not.toContain(id);
  }, 90_000);

  it('moves a running domain disk to another pool with a block copy; the domain runs throughout', async () => {
    const id = randomUUID();
    const { mac } = await lab.defineGuest('kvm-b', { id, name: 'disk-1', dirtyRateMbps: 8 });
    const storage: MigrationRequest = { ...request(id, mac, 'kvm-b', 'kvm-b'), kind: 'storage', target: { id: 'kvm-b' }, sourceDatastoreId: 'lab-ds-a', targetDatastoreId: 'lab-ds-b' };
    expect(await engine.precheck(storage)).toEqual({ ok: true });
    const states: string[] = [];
    const result = await engine.migrate(storage, {
      onProgress: async () => void states.push((await virsh.run(lab.host('kvm-b').uri, ['domstate', id])).trim()),
    });
    expect(result).toMatchObject({ hostId: 'kvm-b', datastoreId: 'lab-ds-b', downtimeMs: 0, macPreserved: true });
    expect(states.every((s) => s === 'running')).toBe(true);
    const disk = parseDomainXml(await virsh.run(lab.host('kvm-b').uri, ['dumpxml', '--inactive', id])).disks[0];
    expect(disk.path).toBe(`${lab.datastoreDir('lab-ds-b')}/disk-1.qcow2`);
    expect(await engine.locate(id)).toMatchObject({ hostId: 'kvm-b', running: true, datastoreId: 'lab-ds-b' });
  }, 90_000);

  it('says which host, which URI and what libvirt said when a daemon is down', async () => {
    const directory = staticDirectory([...lab.connections, { hostId: 'kvm-gone', uri: 'qemu+unix:///session?socket=/nonexistent/libvirt-sock' }]);
    const withGone = new LibvirtEngine({ hosts: directory });
    const answer = await withGone.precheck(request(randomUUID(), '52:54:00:00:00:01', 'kvm-gone', 'kvm-a'));
    expect(answer.ok).toBe(false);
    expect(answer.reason).toContain('host kvm-gone');
    expect(answer.reason).toContain('/nonexistent/libvirt-sock');
    expect(answer.reason).not.toMatch(/\n\s+at /);
    await expect(withGone.locate(randomUUID())).rejects.toThrow(/kvm-gone/);
    await withGone.close();
  }, 30_000);

  // Last: it takes host kvm-b down for good.
  it('HA restart on shared storage: the failed host\'s domain starts on the target from its disk and saved definition, once', async () => {
    const id = randomUUID();
    const { mac } = await lab.defineGuest('kvm-a', { id, name: 'ha-1', dirtyRateMbps: 8 });
    // Migrated to kvm-b: the engine keeps its definition in its datastore, which every host sees.
    await engine.migrate(request(id, mac, 'kvm-a', 'kvm-b'));
    const saved = `ballast-domain-${id}.xml`;
    await waitFor(async () => (await virsh.run(lab.host('kvm-a').uri, ['pool-refresh', 'lab-ds-a']).then(() => virsh.run(lab.host('kvm-a').uri, ['vol-list', 'lab-ds-a']))).includes(saved), 30_000, 'the saved definition');
    expect(await domains('kvm-a')).not.toContain(id);

    // A guest that never moved: its definition kept as discovery keeps it.
    const stay = randomUUID();
    const stayGuest = await lab.defineGuest('kvm-b', { id: stay, name: 'ha-2' });
    const kvmB = lab.connections.find((c) => c.hostId === 'kvm-b')!;
    await new DomainDefinitions(virsh).keep(kvmB, { id: stay, datastores: ['lab-ds-a'] });

    // kvm-b fails: its daemon and its guests die; nothing on kvm-a knows the domain.
    await lab.killHost('kvm-b');
    const restart = { migrationId: randomUUID(), vm: { id, memoryMb: 64, macAddress: mac, datastores: ['lab-ds-a'] }, failedHost: { id: 'kvm-b' }, target: { id: 'kvm-a' } };
    const result = await engine.restart(restart);
    expect(result).toMatchObject({ hostId: 'kvm-a', running: true });
    expect(result.bootTimeMs).toBeGreaterThan(0);
    expect((await virsh.run(lab.host('kvm-a').uri, ['domstate', id])).trim()).toBe('running');
    expect(parseDomainXml(await virsh.run(lab.host('kvm-a').uri, ['dumpxml', id])).nics[0].mac).toBe(mac);
    expect(await engine.locate(id)).toMatchObject({ hostId: 'kvm-a', running: true });

    // Asked again (its driver died after the start): running already, not started twice.
    // libvirt numbers each start of a domain anew.
    const started = (await virsh.run(lab.host('kvm-a').uri, ['domid', id])).trim();
    expect(await engine.restart(restart)).toMatchObject({ hostId: 'kvm-a', running: true, bootTimeMs: 0 });
    expect((await virsh.run(lab.host('kvm-a').uri, ['domid', id])).trim()).toBe(started);
    expect((await virsh.run(lab.host('kvm-a').uri, ['list', '--uuid'])).split('\n').filter((l) => l.trim() === id)).toHaveLength(1);
    // The guest that never moved starts on kvm-a from the definition kept for it.
    const never = { migrationId: randomUUID(), vm: { id: stay, memoryMb: 64, macAddress: stayGuest.mac, datastores: ['lab-ds-a'] }, failedHost: { id: 'kvm-b' }, target: { id: 'kvm-a' } };
    expect(await engine.restart(never)).toMatchObject({ hostId: 'kvm-a', running: true });
    expect((await virsh.run(lab.host('kvm-a').uri, ['domstate', stay])).trim()).toBe('running');
    // A restart that names kvm-a as the failed host: the VM runs there, it was never down.
    await expect(engine.restart({ ...restart, migrationId: randomUUID(), failedHost: { id: 'kvm-a' }, target: { id: 'kvm-b' } })).rejects.toMatchObject({ transient: false, message: expect.stringMatching(/running on host kvm-a: it was never down/) });
  }, 120_000);
});
