import { describe, expect, it } from '@jest/globals';
import { host, snapshot, vm } from '../../test/support/builders.js';
import { populationSd, referenceImbalance } from './imbalance.js';
import { compileModel } from './model.js';
import { Placement } from './placement.js';

describe('reference imbalance', () => {
  // h1: cpu 0.5, mem 0.25; h2: cpu 0, mem 0.  sd(cpu) = 0.25, sd(mem) = 0.125.
  const s = snapshot({
    hosts: [host('h1', { cpuCapacityMhz: 10_000, memoryCapacityMb: 10_000 }), host('h2', { cpuCapacityMhz: 10_000, memoryCapacityMb: 10_000 })],
    vms: [vm('a', 'h1', { cpuDemandMhz: 5_000, memoryActiveMb: 2_500, memoryMb: 4_000 })],
  });

  it.each([
    { weights: { cpu: 1, memory: 1 }, expected: 0.1875 },
    { weights: { cpu: 3, memory: 1 }, expected: 0.75 * 0.25 + 0.25 * 0.125 },
    { weights: { cpu: 0, memory: 2 }, expected: 0.125 },
  ])('weights $weights', ({ weights, expected }) => {
    expect(referenceImbalance({ ...s, policy: { ...s.policy, resourceWeights: weights } })).toBeCloseTo(expected, 12);
  });

  it('counts only connected hosts and powered-on VMs', () => {
    const more = {
      ...s,
      hosts: [...s.hosts, host('h3', { state: 'maintenance' })],
      vms: [...s.vms, vm('off', 'h2', { powerState: 'off', cpuDemandMhz: 9_000 }), vm('m', 'h3', { cpuDemandMhz: 9_000 })],
    };
    expect(referenceImbalance(more)).toBeCloseTo(0.1875, 12);
  });

  it('the placement computes the same figure incrementally, move after move', () => {
    const big = snapshot({
      hosts: [host('h1'), host('h2', { cpuCapacityMhz: 124_800, memoryCapacityMb: 786_432 }), host('h3')],
      vms: [vm('a', 'h1', { cpuDemandMhz: 9_000 }), vm('b', 'h1'), vm('c', 'h2', { memoryActiveMb: 30_000 }), vm('d', 'h3')],
    });
    const p = new Placement(compileModel(big));
    expect(p.imbalance()).toBeCloseTo(referenceImbalance(big), 12);
    const predicted = p.imbalanceIfMoved(0, 2);
    p.move(0, 2);
    expect(p.imbalance()).toBeCloseTo(predicted, 12);
    const moved = { ...big, vms: big.vms.map((v) => (v.id === 'a' ? { ...v, hostId: 'h3' } : v)) };
    expect(p.imbalance()).toBeCloseTo(referenceImbalance(moved), 12);
  });

  it('population standard deviation', () => {
    expect(populationSd([2, 4, 4, 4, 5, 5, 7, 9])).toBe(2);
    expect(populationSd([])).toBe(0);
  });
});
