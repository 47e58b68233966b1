import type { Snapshot, SnapshotHost, SnapshotVm } from '../../src/planner/snapshot.js';

export interface EvacuationClusterOptions {
  id: string;
  /** VMs on the first host, which is entering maintenance. */
  vms: number;
  /** Hosts in all, the first included. */
  hosts?: number;
  vmMemoryMb?: number;
  migrationBandwidthMbps?: number;
  datastores?: string[];
}

/**
 * A cluster whose first host is entering maintenance with `vms` VMs on it and empty hosts beside
 * it: whatever else it decides, the planner must move every one of those VMs.
 */
export function evacuationCluster(options: EvacuationClusterOptions): Snapshot {
  const hostCount = options.hosts ?? 4;
  const datastores = options.datastores ?? ['ds-1', 'ds-2'];
  const hosts: SnapshotHost[] = Array.from({ length: hostCount }, (_, i) => ({
    id: `${options.id}-h${i + 1}`,
    cpuCapacityMhz: 100000,
    memoryCapacityMb: 1048576,
    state: i === 0 ? 'entering-maintenance' : 'connected',
    networks: ['prod'],
    datastores,
    ...(options.migrationBandwidthMbps ? { migrationBandwidthMbps: options.migrationBandwidthMbps } : {}),
  }));
  const vms: SnapshotVm[] = Array.from({ length: options.vms }, (_, i) => ({
    id: `${options.id}-vm${String(i + 1).padStart(3, '0')}`,
    hostId: hosts[0].id,
    vcpus: 2,
    memoryMb: options.vmMemoryMb ?? 4096,
    cpuDemandMhz: 1000,
    memoryActiveMb: 2048,
    powerState: 'on',
    networks: ['prod'],
    datastores: [datastores[0]],
  }));
  return {
    version: 1,
    cluster: { id: options.id, name: options.id },
    policy: {
      automationLevel: 'manual',
      migrationThreshold: 3,
      resourceWeights: { cpu: 1, memory: 1 },
      maxMovesPerRun: 50,
      memoryOvercommitRatio: 1,
    },
    hosts,
    vms,
    rules: [],
  };
}
