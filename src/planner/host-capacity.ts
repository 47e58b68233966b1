import type { Policy, SnapshotHost, SnapshotVm } from './snapshot.js';

/** What a host's powered-on VMs take of it, as the planner's capacity filters count them. */
export interface HostLoad {
  /** Configured memory of its powered-on VMs (bounded by memoryCapacityMb x memoryOvercommitRatio). */
  memoryMb: number;
  /** CPU demand of its powered-on VMs (bounded by cpuCapacityMhz x maxCpuUtilization, 1 without a cap). */
  cpuMhz: number;
}

export function hostLoad(vms: readonly Pick<SnapshotVm, 'memoryMb' | 'cpuDemandMhz' | 'powerState'>[]): HostLoad {
  let memoryMb = 0;
  let cpuMhz = 0;
  for (const vm of vms) {
    if (vm.powerState !== 'on') continue;
    memoryMb += vm.memoryMb;
    cpuMhz += vm.cpuDemandMhz;
  }
  return { memoryMb, cpuMhz };
}

/**
 * Why a host's capacity may not shrink from `before` to `after` while it holds `load`: one line per
 * capacity lowered below what its VMs take, naming the figure (empty: it may). A capacity that does
 * not shrink is never refused, even where the host is already over it.
 */
export function capacityShrinkProblems(
  before: Pick<SnapshotHost, 'cpuCapacityMhz' | 'memoryCapacityMb'>,
  after: Pick<SnapshotHost, 'cpuCapacityMhz' | 'memoryCapacityMb'>,
  load: HostLoad,
  policy: Pick<Policy, 'memoryOvercommitRatio' | 'maxCpuUtilization'>,
): { field: string; needs: number; reason: string }[] {
  const problems: { field: string; needs: number; reason: string }[] = [];
  const ratio = policy.memoryOvercommitRatio;
  if (after.memoryCapacityMb < before.memoryCapacityMb && load.memoryMb > after.memoryCapacityMb * ratio) {
    const needs = Math.ceil(load.memoryMb / ratio);
    problems.push({
      field: 'memoryCapacityMb',
      needs,
      reason: `its powered-on VMs have ${round(load.memoryMb)} MB of memory, so memoryCapacityMb must stay at least ${needs}${ratio === 1 ? '' : ` (memoryOvercommitRatio ${ratio})`}`,
    });
  }
  const cap = policy.maxCpuUtilization ?? 1;
  if (after.cpuCapacityMhz < before.cpuCapacityMhz && load.cpuMhz > after.cpuCapacityMhz * cap) {
    const needs = Math.ceil(load.cpuMhz / cap);
    problems.push({
      field: 'cpuCapacityMhz',
      needs,
      reason: `its powered-on VMs demand ${round(load.cpuMhz)} MHz, so cpuCapacityMhz must stay at least ${needs}${cap === 1 ? '' : ` (maxCpuUtilization ${cap})`}`,
    });
  }
  return problems;
}

const round = (x: number) => Math.round(x * 100) / 100;
