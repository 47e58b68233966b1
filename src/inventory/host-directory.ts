import { IsNull, Not, type DataSource } from 'typeorm';
import type { HostConnection, HostDirectory } from '../engine/libvirt/host-connections.js';
import { HostEntity } from './entities/host.entity.js';

function connectionOf(host: Pick<HostEntity, 'id' | 'connectionUri' | 'migrationAddress'>): HostConnection {
  return { hostId: host.id, uri: host.connectionUri!, migrationAddress: host.migrationAddress };
}

/** The libvirt engine's view of the inventory: every host with a `connectionUri`. */
export function inventoryHostDirectory(db: DataSource): HostDirectory {
  const hosts = () => db.getRepository(HostEntity);
  const columns = { id: true, connectionUri: true, migrationAddress: true } as const;
  return {
    async connection(hostId) {
      const host = await hosts().findOne({ select: columns, where: { id: hostId, connectionUri: Not(IsNull()) } });
      return host ? connectionOf(host) : null;
    },
    async connections() {
      return (await hosts().find({ select: columns, where: { connectionUri: Not(IsNull()) }, order: { id: 'ASC' } })).map(connectionOf);
    },
  };
}
