import { describe, expect, it } from '@jest/globals';
import { resolve } from 'node:path';
import { SCENARIOS_DIR } from '../../../test/support/samples.js';
import type { MetricsTarget } from '../metrics-source.js';
import { Trace, TraceError } from '../trace.js';
import { SimulatedMetricsSource, simulatedDemand, simulatedTime } from './simulated-source.js';

const vm = { id: 'vm-1', vcpus: 8, memoryMb: 16_384 };
const baseline = { cpuMhz: 4000, memoryMb: 8000 };
const NOON = Date.UTC(2026, 11, 2, 12, 0, 0);

const target: MetricsTarget = {
  clusterId: 'c',
  hosts: [{ id: 'h1', cpuCapacityMhz: 100_000, memoryCapacityMb: 100_000 }],
  vms: [
    { id: 'demo-02', hostId: 'h1', vcpus: 4, memoryMb: 16_384, powerState: 'on', baseline: { cpuMhz: 1, memoryMb: 3000 } },
    { id: 'other', hostId: 'h1', vcpus: 2, memoryMb: 4096, powerState: 'on', baseline: { cpuMhz: 1, memoryMb: 1000 } },
    { id: 'sleeping', hostId: 'h1', vcpus: 2, memoryMb: 4096, powerState: 'off', baseline: { cpuMhz: 1, memoryMb: 1000 } },
  ],
};

describe('simulated demand', () => {
  it('is the same for the same seed, VM and time, and differs for another seed', () => {
    expect(simulatedDemand(7, vm, baseline, NOON)).toEqual(simulatedDemand(7, vm, baseline, NOON));
    expect(simulatedDemand(8, vm, baseline, NOON)).not.toEqual(simulatedDemand(7, vm, baseline, NOON));
  });

  it('averages the baseline over a day, with a daily rhythm, noise and rare spikes', () => {
    const cpu: number[] = [];
    for (let t = 0; t < 86_400_000; t += 20_000) cpu.push(simulatedDemand(1, vm, baseline, NOON + t).cpuMhz);
    const mean = cpu.reduce((a, b) => a + b, 0) / cpu.length;
    // Spikes (2 % of samples, 1.5-3x) lift the mean a little above the baseline.
    expect(mean / baseline.cpuMhz).toBeGreaterThan(0.98);
    expect(mean / baseline.cpuMhz).toBeLessThan(1.1);
    const spikes = cpu.filter((x) => x > baseline.cpuMhz * 1.5 * 1.1).length / cpu.length;
    expect(spikes).toBeGreaterThan(0.005);
    expect(spikes).toBeLessThan(0.03);
    // The hour means swing by the rhythm's depth (20-50 %), far more than the noise would.
    const hourly = Array.from({ length: 24 }, (_, h) => cpu.slice(h * 180, (h + 1) * 180).sort((a, b) => a - b)[90]);
    expect(Math.max(...hourly) / Math.min(...hourly)).toBeGreaterThan(1.3);
    // Never above the VM's vCPUs.
    expect(Math.max(...cpu)).toBeLessThanOrEqual(8 * 2600);
  });

  it('follows SIM_TIME_SCALE: at 0.01 a wall second is 100 simulated seconds', () => {
    expect(simulatedTime(new Date(1000), 0.01)).toBe(100_000);
    expect(simulatedTime(new Date(1000), 1)).toBe(1000);
    expect(simulatedTime(new Date(1000), 0)).toBe(1000);
  });
});

describe('trace replay', () => {
  const trace = Trace.fromFiles(resolve(SCENARIOS_DIR, 'trace-demo-'));

  it('reads the demo trace: 24 VMs over a day of 5-minute rows', () => {
    expect(trace.vms).toHaveLength(24);
    expect(trace.start).toBe(Date.parse('2026-11-24T00:00:00.000Z'));
    expect(trace.end).toBe(Date.parse('2026-11-25T00:00:00.000Z'));
    expect(trace.cpuAt('demo-01', Date.parse('2026-11-24T00:07:00.000Z'))).toBe(640.08);
    // It repeats: a week later, the same time of day.
    expect(trace.cpuAt('demo-01', trace.replayTime(Date.parse('2026-12-01T00:07:00.000Z')))).toBe(640.08);
  });

  it('plays a VM named in the trace as is, the others from the trace in turn scaled by vCPUs; powered-off VMs not at all', async () => {
    const source = new SimulatedMetricsSource({ seed: 1, timeScale: 1, trace });
    const at = new Date('2026-12-02T00:07:00.000Z');
    const batch = await source.collect(target, at);
    const replay = trace.replayTime(at.getTime());
    const demo02 = trace.cpuAt('demo-02', replay)!;
    // 'other' is the second VM in id order: it plays the trace's second VM (demo-02, 4 CPUs) at 2 vCPUs.
    expect(batch.vms).toEqual([
      { vmId: 'demo-02', at, cpuMhz: demo02, memoryMb: 3000 },
      { vmId: 'other', at, cpuMhz: demo02 / 2, memoryMb: 1000 },
    ]);
    expect(batch.hosts).toEqual([{ hostId: 'h1', at, up: true, cpuMhz: demo02 * 1.5, memoryMb: 4000 }]);
  });

  it('refuses a malformed trace, naming the line', () => {
    expect(() => Trace.parse('vm_id,cpu_count,cpu_capacity_mhz,mem_capacity_mb\nx,1,2600,1024\n', 'timestamp,vm_id,duration_s,cpu_usage_mhz\n2026-11-24T00:00:00Z,y,300,5\n')).toThrow(
      new TraceError('traceusage.csv line 2: VM "y" is not in vms.csv'),
    );
    expect(() => Trace.parse('id,cpus\n', '')).toThrow('the header must be vm_id,cpu_count,cpu_capacity_mhz,mem_capacity_mb');
  });
});
