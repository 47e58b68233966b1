/** How the libvirt engine reaches a host: its libvirt URI and where its QEMU takes migration streams. */
export interface HostConnection {
  hostId: string;
  /** A libvirt URI: `qemu+ssh://root@kvm-07/system`, `qemu+tls://kvm-07/system`, `qemu+unix:///session?socket=...`. */
  uri: string;
  /** Address (`10.0.0.7` or `10.0.0.7:49152`) the host's QEMU listens on for an incoming migration; default: libvirt's choice. */
  migrationAddress?: string | null;
}

/** The hosts the engine may talk to; the inventory is the truth (hosts with a `connectionUri`). */
export interface HostDirectory {
  connection(hostId: string): Promise<HostConnection | null>;
  /** Every host with a connection, for "where does this VM run?". */
  connections(): Promise<HostConnection[]>;
}

/** A fixed directory (tests, the lab, the bench). */
export function staticDirectory(connections: HostConnection[]): HostDirectory {
  return {
    connection: async (hostId) => connections.find((c) => c.hostId === hostId) ?? null,
    connections: async () => connections,
  };
}

/** A URI whose daemon runs on this machine (no host part): two of them share one filesystem. */
export function isLocalUri(uri: string): boolean {
  const match = /^[a-z0-9+]+:\/\/([^/?]*)\//i.exec(uri);
  return match !== null && match[1] === '';
}
