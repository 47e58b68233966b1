import { type LoadOfSnapshot, referenceImbalance } from '../planner/imbalance.js';
import { overloadLine, thresholdLevel } from '../planner/thresholds.js';

export interface HostLoad {
  id: string;
  state: string;
  vmCount: number;
  cpuDemandMhz: number;
  cpuCapacityMhz: number;
  memoryActiveMb: number;
  memoryCapacityMb: number;
  /** Demand of its powered-on VMs over capacity (the smoothed figures of the inventory). */
  cpuUtilization: number;
  memoryUtilization: number;
  /** Above the policy's overload line in CPU or active memory. */
  overloaded: boolean;
}

export interface ClusterLoad {
  /** The reference imbalance (FORMAT.md) of the cluster as it is. */
  imbalance: number;
  /** The policy's target (null: this threshold does not balance). */
  targetImbalance: number | null;
  aboveTarget: boolean;
  /** Utilization above which a host is overloaded (null: only the hard caps count). */
  overloadLine: { cpu: number | null; memory: number | null };
  hosts: HostLoad[];
}

/** The load of each host and the cluster's imbalance, from a snapshot (pure). */
export function clusterLoad(snapshot: LoadOfSnapshot): ClusterLoad {
  const sums = new Map(snapshot.hosts.map((h) => [h.id, { cpu: 0, memory: 0, vms: 0 }]));
  for (const vm of snapshot.vms) {
    const sum = sums.get(vm.hostId);
    if (!sum) continue;
    sum.vms++;
    if (vm.powerState !== 'on') continue;
    sum.cpu += vm.cpuDemandMhz;
    sum.memory += vm.memoryActiveMb;
  }
  const line = overloadLine(snapshot.policy);
  const imbalance = referenceImbalance(snapshot);
  const targetImbalance = thresholdLevel(snapshot.policy.migrationThreshold).targetImbalance;
  return {
    imbalance,
    targetImbalance,
    aboveTarget: targetImbalance !== null && imbalance > targetImbalance,
    overloadLine: { cpu: Number.isFinite(line.cpu) ? line.cpu : null, memory: Number.isFinite(line.memory) ? line.memory : null },
    hosts: snapshot.hosts.map((h) => {
      const sum = sums.get(h.id)!;
      const cpuUtilization = sum.cpu / h.cpuCapacityMhz;
      const memoryUtilization = sum.memory / h.memoryCapacityMb;
      return {
        id: h.id,
        state: h.state,
        vmCount: sum.vms,
        cpuDemandMhz: sum.cpu,
        cpuCapacityMhz: h.cpuCapacityMhz,
        memoryActiveMb: sum.memory,
        memoryCapacityMb: h.memoryCapacityMb,
        cpuUtilization,
        memoryUtilization,
        overloaded: cpuUtilization > line.cpu || memoryUtilization > line.memory,
      };
    }),
  };
}
