import type { Snapshot, SnapshotVm } from '../planner/snapshot.js';

/**
 * The demo cluster of the qemu engine: three hosts of this machine and a dozen small real guests,
 * most of them on the first host, so that the balancer has real live migrations to make.
 */
export function labCluster(): Snapshot {
  const hosts = [1, 2, 3].map((n) => ({
    id: `lab-host-${n}`,
    cpuCapacityMhz: 8000,
    memoryCapacityMb: 2048,
    state: 'connected' as const,
    networks: ['lab-net'],
    datastores: ['lab-ds-1', 'lab-ds-2'],
    migrationBandwidthMbps: 1000,
  }));
  const placement = [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 3];
  const vms: SnapshotVm[] = placement.map((host, i) => ({
    id: `lab-vm-${String(i + 1).padStart(2, '0')}`,
    hostId: `lab-host-${host}`,
    vcpus: 1,
    memoryMb: 64,
    cpuDemandMhz: 600 + 50 * (i % 4),
    memoryActiveMb: 48,
    powerState: 'on',
    networks: ['lab-net'],
    datastores: ['lab-ds-1'],
    memoryDirtyRateMbps: 16,
  }));
  return {
    version: 1,
    cluster: { id: 'lab', name: 'QEMU lab (real guests on this machine)' },
    policy: {
      automationLevel: 'fully-automated',
      migrationThreshold: 3,
      resourceWeights: { cpu: 1, memory: 1 },
      maxMovesPerRun: 10,
      memoryOvercommitRatio: 1,
    },
    hosts,
    vms,
    rules: [{ id: 'lab-apart', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['lab-vm-01', 'lab-vm-02'] }],
  };
}
