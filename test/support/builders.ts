import type { Policy, Rule, Snapshot, SnapshotHost, SnapshotVm } from '../../src/planner/snapshot.js';

/** Small, readable snapshots for planner tests. Defaults: 76,800 MHz / 512 GB hosts, 16 GB VMs. */
export function host(id: string, over: Partial<SnapshotHost> = {}): SnapshotHost {
  return {
    id,
    cpuCapacityMhz: 76_800,
    memoryCapacityMb: 524_288,
    state: 'connected',
    networks: ['mgmt', 'prod'],
    datastores: ['ds-1'],
    ...over,
  };
}

export function vm(id: string, hostId: string, over: Partial<SnapshotVm> = {}): SnapshotVm {
  return {
    id,
    hostId,
    vcpus: 4,
    memoryMb: 16_384,
    cpuDemandMhz: 2_000,
    memoryActiveMb: 8_000,
    powerState: 'on',
    networks: ['prod'],
    datastores: ['ds-1'],
    ...over,
  };
}

export const POLICY: Policy = {
  automationLevel: 'fully-automated',
  migrationThreshold: 5,
  resourceWeights: { cpu: 1, memory: 1 },
  maxMovesPerRun: 50,
  memoryOvercommitRatio: 1,
};

export function snapshot(parts: {
  hosts: SnapshotHost[];
  vms: SnapshotVm[];
  rules?: Rule[];
  policy?: Partial<Policy>;
  takenAt?: string;
  clusterId?: string;
}): Snapshot {
  const s: Snapshot = {
    version: 1,
    cluster: { id: parts.clusterId ?? 'test', name: parts.clusterId ?? 'test' },
    policy: { ...POLICY, ...parts.policy },
    hosts: parts.hosts,
    vms: parts.vms,
    rules: parts.rules ?? [],
  };
  if (parts.takenAt !== undefined) s.takenAt = parts.takenAt;
  return s;
}

/** n VMs named `${prefix}-1..n` on one host. */
export function vmsOn(hostId: string, n: number, prefix: string, over: Partial<SnapshotVm> = {}): SnapshotVm[] {
  return Array.from({ length: n }, (_, i) => vm(`${prefix}-${i + 1}`, hostId, over));
}
