import { populationSd } from '../planner/imbalance.js';
import type { SeriesPoint } from '../metrics/samples.repository.js';

export interface ImbalancePoint {
  at: string;
  imbalance: number;
  /** Hosts with samples in the step (the others are left out of it). */
  hosts: number;
  /** The busiest of those hosts' average CPU use over its capacity (0..1). */
  hottestCpuUtilization: number;
}

/**
 * The reference imbalance over time from the hosts' own samples: per step, the weighted standard
 * deviations of the hosts' average CPU and memory use over their capacity (pure).
 */
export function imbalanceSeries(
  hosts: ReadonlyArray<{ cpuCapacityMhz: number; memoryCapacityMb: number; points: readonly SeriesPoint[] }>,
  weights: { cpu: number; memory: number },
): ImbalancePoint[] {
  const steps = new Map<string, { cpu: number[]; memory: number[] }>();
  for (const host of hosts) {
    for (const p of host.points) {
      if (p.cpuMhz.avg === null || p.memoryMb.avg === null) continue;
      let step = steps.get(p.at);
      if (!step) steps.set(p.at, (step = { cpu: [], memory: [] }));
      step.cpu.push(p.cpuMhz.avg / host.cpuCapacityMhz);
      step.memory.push(p.memoryMb.avg / host.memoryCapacityMb);
    }
  }
  return [...steps]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([at, step]) => ({
      at,
      imbalance: (weights.cpu * populationSd(step.cpu) + weights.memory * populationSd(step.memory)) / (weights.cpu + weights.memory),
      hosts: step.cpu.length,
      hottestCpuUtilization: Math.max(...step.cpu),
    }));
}
