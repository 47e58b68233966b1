import type { Snapshot } from '../../src/planner/snapshot.js';
import { host, snapshot, vm } from './builders.js';

export interface ClusterOptions {
  /** VMs on each host, in host order (hosts `${id}-h1`, `${id}-h2`...; VMs `${id}-vm001`...). */
  vmsPerHost: number[];
  hostMemoryMb?: number;
  vmMemoryMb?: number;
  /** The first VMs of the first host that are powered off. */
  poweredOff?: number;
  migrationBandwidthMbps?: number;
  datastores?: string[];
  /** The first hosts that are entering maintenance. */
  enteringMaintenance?: number;
}

/** A manual-policy cluster of identical hosts and VMs, for the service's end-to-end tests. */
export function testCluster(id: string, options: ClusterOptions): Snapshot {
  const datastores = options.datastores ?? ['ds-1', 'ds-2'];
  const hosts = options.vmsPerHost.map((_, i) =>
    host(`${id}-h${i + 1}`, {
      cpuCapacityMhz: 100000,
      memoryCapacityMb: options.hostMemoryMb ?? 1048576,
      state: i < (options.enteringMaintenance ?? 0) ? 'entering-maintenance' : 'connected',
      networks: ['prod'],
      datastores,
      ...(options.migrationBandwidthMbps ? { migrationBandwidthMbps: options.migrationBandwidthMbps } : {}),
    }),
  );
  let n = 0;
  const vms = options.vmsPerHost.flatMap((count, h) =>
    Array.from({ length: count }, (_, j) =>
      vm(`${id}-vm${String(++n).padStart(3, '0')}`, hosts[h].id, {
        vcpus: 2,
        memoryMb: options.vmMemoryMb ?? 4096,
        cpuDemandMhz: 1000,
        memoryActiveMb: (options.vmMemoryMb ?? 4096) / 2,
        powerState: h === 0 && j < (options.poweredOff ?? 0) ? 'off' : 'on',
        datastores: [datastores[0]],
      }),
    ),
  );
  return snapshot({ clusterId: id, hosts, vms, policy: { automationLevel: 'manual', migrationThreshold: 3 } });
}

export interface EvacuationClusterOptions {
  id: string;
  /** VMs on the first host, which is entering maintenance. */
  vms: number;
  /** Hosts in all, the first included. */
  hosts?: number;
  vmMemoryMb?: number;
  migrationBandwidthMbps?: number;
}

/**
 * A cluster whose first host is entering maintenance with `vms` VMs on it and empty hosts beside
 * it: whatever else it decides, the planner must move every one of those VMs.
 */
export function evacuationCluster(options: EvacuationClusterOptions): Snapshot {
  const vmsPerHost = Array.from({ length: options.hosts ?? 4 }, (_, i) => (i === 0 ? options.vms : 0));
  return testCluster(options.id, { ...options, vmsPerHost, enteringMaintenance: 1 });
}
