import { dirname } from 'node:path';
import { parseDomainXml, poolPath } from './domain-xml.js';
import type { HostConnection } from './host-connections.js';
import { parseFields, parseNodeInfo, type NodeInfo, Virsh } from './virsh.js';

/** A NIC of type `user` (QEMU's own user-mode networking) is on this network, which every host has. */
export const USER_NETWORK = 'user';

/** A domain as discovery records it: the UUID is the VM's id. */
export interface DiscoveredDomain {
  id: string;
  name: string;
  vcpus: number;
  memoryMb: number;
  macAddresses: string[];
  /** The storage pools holding its disks (by name), or their directories when no pool does. */
  datastores: string[];
  networks: string[];
  /** libvirt's state: `running`, `paused`, `shut off`, ... */
  state: string;
}

export interface DiscoveredHost {
  node: NodeInfo;
  /** The host's storage pools and libvirt networks (a VM's datastores and networks are among them or its own). */
  pools: string[];
  networks: string[];
  domains: DiscoveredDomain[];
}

/** What a libvirt host has: its node info, pools, networks and domains, read with virsh. */
export class LibvirtInventoryReader {
  constructor(private readonly virsh = new Virsh()) {}

  async node(connection: HostConnection): Promise<NodeInfo> {
    return parseNodeInfo(await this.call(connection, ['nodeinfo']));
  }

  async read(connection: HostConnection): Promise<DiscoveredHost> {
    const [node, poolNames, networks, uuids] = await Promise.all([
      this.node(connection),
      this.call(connection, ['pool-list', '--all', '--name']).then(lines),
      this.call(connection, ['net-list', '--all', '--name']).then(lines, () => [] as string[]),
      this.call(connection, ['list', '--all', '--uuid']).then(lines),
    ]);
    const pools = await Promise.all(poolNames.map(async (name) => ({ name, path: poolPath(await this.call(connection, ['pool-dumpxml', name])) })));
    const datastoreOf = (path: string) => pools.find((p) => p.path !== null && dirname(path) === p.path)?.name ?? dirname(path);
    const domains: DiscoveredDomain[] = [];
    for (const uuid of uuids) {
      // A domain that vanished between the list and now (undefined, migrated away) is simply not there.
      const [xml, state] = await Promise.all([this.call(connection, ['dumpxml', uuid]), this.call(connection, ['domstate', uuid])]).catch(() => [null, null]);
      if (!xml || !state) continue;
      const domain = parseDomainXml(xml);
      domains.push({
        id: domain.uuid,
        name: domain.name,
        vcpus: domain.vcpus,
        memoryMb: domain.memoryMb,
        macAddresses: domain.nics.map((n) => n.mac).filter(Boolean),
        datastores: [...new Set(domain.disks.flatMap((d) => (d.pool ? [d.pool] : d.path ? [datastoreOf(d.path)] : [])))],
        networks: [...new Set(domain.nics.map((n) => n.network))],
        state: state.trim(),
      });
    }
    // QEMU's user-mode networking needs nothing of the host: every host offers it.
    return { node, pools: poolNames, networks: [...new Set([...networks, USER_NETWORK])], domains };
  }

  private call(connection: HostConnection, args: string[]): Promise<string> {
    return this.virsh.run(connection.uri, args, { hostId: connection.hostId });
  }
}

function lines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter(Boolean);
}

/**
 * libvirt's measurement of how fast each domain dirties its memory (`domdirtyrate-calc`, page
 * sampling over `seconds`), in MiB/s; domains whose measurement did not complete are left out.
 */
export async function measureDirtyRates(virsh: Virsh, connection: HostConnection, domainIds: readonly string[], seconds = 1): Promise<Map<string, number>> {
  const call = (args: string[]) => virsh.run(connection.uri, args, { hostId: connection.hostId });
  const started = (await Promise.all(domainIds.map((id) => call(['domdirtyrate-calc', id, '--seconds', String(seconds)]).then(() => id, () => null)))).filter((id): id is string => id !== null);
  const rates = new Map<string, number>();
  const deadline = Date.now() + seconds * 1000 + 5_000;
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000 + 200));
  let pending = started;
  while (pending.length > 0 && Date.now() < deadline) {
    const left: string[] = [];
    for (const id of pending) {
      const fields = parseFields(await call(['domstats', '--raw', '--dirtyrate', id]).catch(() => ''), '=');
      // calc_status 2: measured; 1: still measuring.
      if (fields.get('dirtyrate.calc_status') === '2') rates.set(id, Number(fields.get('dirtyrate.megabytes_per_second') ?? 0));
      else if (fields.get('dirtyrate.calc_status') === '1') left.push(id);
    }
    pending = left;
    if (pending.length > 0) await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return rates;
}
