import { describe, expect, it } from '@jest/globals';
import { capacityShrinkProblems, hostLoad } from './host-capacity.js';

describe('host capacity shrink', () => {
  const load = hostLoad([
    { memoryMb: 16_384, cpuDemandMhz: 3_000, powerState: 'on' },
    { memoryMb: 16_384, cpuDemandMhz: 3_000, powerState: 'on' },
    { memoryMb: 65_536, cpuDemandMhz: 9_000, powerState: 'off' },
  ]);
  const before = { memoryCapacityMb: 65_536, cpuCapacityMhz: 20_000 };

  it('counts powered-on VMs only, as the planner does', () => {
    expect(load).toEqual({ memoryMb: 32_768, cpuMhz: 6_000 });
  });

  it('names the figure, with the overcommit ratio and the CPU cap of the policy', () => {
    const problems = capacityShrinkProblems(before, { memoryCapacityMb: 8_192, cpuCapacityMhz: 7_000 }, load, { memoryOvercommitRatio: 2, maxCpuUtilization: 0.8 });
    expect(problems).toEqual([
      { field: 'memoryCapacityMb', needs: 16_384, reason: expect.stringContaining('at least 16384 (memoryOvercommitRatio 2)') },
      { field: 'cpuCapacityMhz', needs: 7_500, reason: expect.stringContaining('at least 7500 (maxCpuUtilization 0.8)') },
    ]);
  });

  it('lets a capacity shrink down to what the VMs take, and never refuses one that does not shrink', () => {
    expect(capacityShrinkProblems(before, { memoryCapacityMb: 16_384, cpuCapacityMhz: 7_500 }, load, { memoryOvercommitRatio: 2, maxCpuUtilization: 0.8 })).toEqual([]);
    const over = { memoryCapacityMb: 1_024, cpuCapacityMhz: 1_000 };
    expect(capacityShrinkProblems(over, { memoryCapacityMb: 2_048, cpuCapacityMhz: 1_000 }, load, { memoryOvercommitRatio: 1 })).toEqual([]);
  });
});
