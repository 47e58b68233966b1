import { randomUUID } from 'node:crypto';
import type { Logger } from '@nestjs/common';
import { LibvirtLab } from '../engine/libvirt/libvirt-lab.js';
import type { DiscoveryService } from '../discovery/discovery.service.js';
import type { ClustersService } from '../inventory/clusters.service.js';
import type { HostsService } from '../inventory/hosts.service.js';
import { DEFAULT_POLICY } from '../inventory/clusters.dto.js';

export const LIBVIRT_LAB_CLUSTER = 'libvirt-lab';

/**
 * `BALLAST_DEMO=libvirt-lab`: two libvirt daemons of this machine (LibvirtLab), five small guests,
 * all on the first host (two spin their CPU, two dirty memory, one idles), and a fully-automated
 * cluster of the two hosts known only by their connection. Discovery brings the guests in, the
 * libvirt source measures them, and the balancer live-migrates some of them to the second host.
 * stop() destroys the guests and stops the daemons.
 */
export class LibvirtLabDemo {
  private readonly lab = new LibvirtLab({ hostIds: ['lab-kvm-1', 'lab-kvm-2'] });

  constructor(private readonly logger: Logger) {}

  async start(deps: { clusters: ClustersService; hosts: HostsService; discovery: DiscoveryService }): Promise<string> {
    this.logger.log('starting the libvirt lab: two session daemons and five guests...');
    const connections = await this.lab.start();
    const guests = [
      { name: 'web-1', dirtyRateMbps: 3_000_000 },
      { name: 'web-2', dirtyRateMbps: 3_000_000 },
      { name: 'cache-1', dirtyRateMbps: 200 },
      { name: 'cache-2', dirtyRateMbps: 100 },
      { name: 'idle-1', dirtyRateMbps: 0 },
    ];
    for (const guest of guests) await this.lab.defineGuest('lab-kvm-1', { id: randomUUID(), ...guest });
    await deps.clusters.create({
      id: LIBVIRT_LAB_CLUSTER,
      name: 'libvirt lab (two daemons of this machine)',
      // The most aggressive threshold: each lab host is this whole machine to libvirt (nodeinfo), so
      // the guests' load is a small share of it and a moderate threshold would see nothing to balance.
      // Evaluated every 30 s, acting on what held 30 s: a newcomer watches it happen in a minute or two.
      policy: { ...DEFAULT_POLICY, automationLevel: 'fully-automated', migrationThreshold: 5, holdMinutes: 0.5, evaluationIntervalMinutes: 0.5, maxMigrationsPerVmDay: 2 },
      metricsSource: 'libvirt',
    });
    // Loopback carries far more than 1 Gb/s: at 10 Gb/s a guest that spins (dirtying all of its
    // 64 MiB as fast as it can) still fits its last pass in the downtime limit.
    for (const connection of connections) {
      await deps.hosts.create(
        LIBVIRT_LAB_CLUSTER,
        { id: connection.hostId, cpuCapacityMhz: 1, memoryCapacityMb: 1, state: 'connected', networks: [], datastores: [], connectionUri: connection.uri, migrationAddress: '127.0.0.1', migrationBandwidthMbps: 10_000 },
        true,
      );
    }
    const found = await deps.discovery.discover(LIBVIRT_LAB_CLUSTER);
    this.logger.log(`libvirt lab in ${this.lab.dir}: cluster "${LIBVIRT_LAB_CLUSTER}", ${found.added.length} guests discovered on lab-kvm-1 (${connections.map((c) => c.uri).join(', ')})`);
    return LIBVIRT_LAB_CLUSTER;
  }

  async stop(): Promise<void> {
    await this.lab.stop();
    this.logger.log('stopped the libvirt lab (guests destroyed, daemons stopped)');
  }
}
