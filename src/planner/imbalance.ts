import type { Snapshot, SnapshotVm } from './snapshot.js';

/** What the reference imbalance reads of a snapshot. */
export type LoadOfSnapshot = Pick<Snapshot, 'hosts' | 'policy'> & {
  vms: readonly Pick<SnapshotVm, 'hostId' | 'powerState' | 'cpuDemandMhz' | 'memoryActiveMb'>[];
};

/**
 * The reference imbalance of FORMAT.md, computed straight from a snapshot (two-pass standard
 * deviations, for reporting): over the connected hosts and powered-on VMs,
 * wc x sd(cpu utilization) + wm x sd(active memory utilization), weights scaled to sum to 1.
 */
export function referenceImbalance(snapshot: LoadOfSnapshot): number {
  const index = new Map<string, number>();
  snapshot.hosts.forEach((h, i) => {
    if (h.state === 'connected') index.set(h.id, i);
  });
  const cpu = new Float64Array(snapshot.hosts.length);
  const mem = new Float64Array(snapshot.hosts.length);
  for (const vm of snapshot.vms) {
    if (vm.powerState !== 'on') continue;
    const h = index.get(vm.hostId);
    if (h === undefined) continue;
    cpu[h] += vm.cpuDemandMhz;
    mem[h] += vm.memoryActiveMb;
  }
  const cpuUtil: number[] = [];
  const memUtil: number[] = [];
  for (const h of index.values()) {
    cpuUtil.push(cpu[h] / snapshot.hosts[h].cpuCapacityMhz);
    memUtil.push(mem[h] / snapshot.hosts[h].memoryCapacityMb);
  }
  const { cpu: wc, memory: wm } = snapshot.policy.resourceWeights;
  return (wc * populationSd(cpuUtil) + wm * populationSd(memUtil)) / (wc + wm);
}

export function populationSd(values: readonly number[]): number {
  if (values.length === 0) return 0;
  let sum = 0;
  for (const x of values) sum += x;
  const mean = sum / values.length;
  let sq = 0;
  for (const x of values) sq += (x - mean) * (x - mean);
  return Math.sqrt(sq / values.length);
}
