import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { escapeXml } from './domain-xml.js';
import type { HostConnection } from './host-connections.js';
import { Virsh } from './virsh.js';

/** A VM as far as its kept definition is concerned: its id (the domain's UUID) and the datastores of its disks. */
export interface DefinedVm {
  id: string;
  datastores: readonly string[];
}

/**
 * Copies of domain definitions kept in the storage pool of each domain's first disk (shared
 * storage: every host of the cluster sees it), as volume `ballast-domain-UUID.xml`, so that HA can
 * start a domain on another host once its own host is gone. The engine writes one after every
 * migration, discovery one for each domain it finds (most VMs never move). Best effort: a disk in
 * a directory that is no pool keeps none.
 */
export class DomainDefinitions {
  constructor(private readonly virsh = new Virsh()) {}

  /** The inventory's datastores are the pools (by name) of its disks, the same on every host; a path is no pool. */
  static poolOf(vm: DefinedVm): string | null {
    return vm.datastores.find((d) => !d.startsWith('/')) ?? null;
  }

  async save(connection: HostConnection, vm: DefinedVm, xml: string): Promise<void> {
    const pool = DomainDefinitions.poolOf(vm);
    if (!pool || !xml.includes('<domain')) return;
    const name = definitionVolume(vm.id);
    const dir = await mkdtemp(join(tmpdir(), 'ballast-virsh-'));
    try {
      const file = join(dir, 'domain.xml');
      const volume = join(dir, 'volume.xml');
      await writeFile(file, xml, { mode: 0o600 });
      // Readable by every host's daemon (they may run as other users of the shared storage).
      await writeFile(volume, `<volume><name>${escapeXml(name)}</name><capacity unit='bytes'>${Buffer.byteLength(xml)}</capacity><target><format type='raw'/><permissions><mode>0644</mode></permissions></target></volume>`, { mode: 0o600 });
      // Another daemon may have written the volume before: the pool learns of it on refresh.
      await this.virsh.batch(connection.uri, [['pool-refresh', pool], ['vol-delete', name, '--pool', pool], ['vol-create', pool, volume], ['vol-upload', name, file, '--pool', pool]], { hostId: connection.hostId });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Reads the domain's persistent definition from the host it is on (`connection`) and keeps it. */
  async keep(connection: HostConnection, vm: DefinedVm): Promise<void> {
    if (!DomainDefinitions.poolOf(vm)) return;
    const xml = await this.virsh.run(connection.uri, ['dumpxml', '--inactive', '--migratable', vm.id], { hostId: connection.hostId });
    await this.save(connection, vm, xml);
  }

  /** The kept copy, read through `connection`'s daemon (null: none). */
  async read(connection: HostConnection, vm: DefinedVm): Promise<string | null> {
    const pool = DomainDefinitions.poolOf(vm);
    if (!pool) return null;
    const dir = await mkdtemp(join(tmpdir(), 'ballast-virsh-'));
    try {
      const file = join(dir, 'domain.xml');
      // Another daemon wrote the volume: this one's pool learns of it on refresh.
      await this.virsh.batch(connection.uri, [['pool-refresh', pool], ['vol-download', definitionVolume(vm.id), file, '--pool', pool]], { hostId: connection.hostId });
      const xml = await readFile(file, 'utf8').catch(() => '');
      return xml.includes('<domain') ? xml : null;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/** The storage volume that keeps a domain's definition in its datastore. */
export function definitionVolume(vmId: string): string {
  return `ballast-domain-${vmId}.xml`;
}
