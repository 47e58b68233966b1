import { describe, expect, it } from '@jest/globals';
import type { Move, Plan } from '../../src/planner/snapshot.js';
import { imbalance, validatePlan } from '../support/plan-validator.js';
import { host, snapshot, vm } from '../support/builders.js';

/** The validator the planner is judged by must itself catch broken plans. */
const s = snapshot({
  hosts: [host('h1', { state: 'entering-maintenance' }), host('h2', { memoryCapacityMb: 40_000, compatibilityGroup: undefined }), host('h3', { networks: ['mgmt'] }), host('h4', { state: 'maintenance' })],
  vms: [vm('a', 'h1'), vm('b', 'h2', { memoryMb: 20_000 }), vm('d', 'h2', { automationLevel: 'disabled' })],
  rules: [{ id: 'apart', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['a', 'b'] }],
  policy: { maxMovesPerRun: 1 },
});
const location = new Map(s.vms.map((v) => [v.id, v.hostId]));
const doc = (moves: Move[], unresolved: Plan['unresolved'] = []): Plan => {
  const after = new Map(location);
  for (const m of moves) after.set(m.vmId, m.toHostId);
  return { version: 1, clusterId: 'test', moves, imbalanceBefore: imbalance(s, location), imbalanceAfter: imbalance(s, after), unresolved };
};
const mv = (vmId: string, fromHostId: string, toHostId: string, reason: Move['reason'] = 'evacuation', priority = 1): Move => ({ vmId, fromHostId, toHostId, priority, reason });

describe('plan validator', () => {
  it('accepts an honest plan', () => {
    expect(validatePlan(s, doc([], [{ vmId: 'a', reason: 'stays' }])).errors).toEqual([]);
  });

  it.each([
    { name: 'a VM left on an entering-maintenance host', plan: doc([]), error: 'a stays on entering-maintenance host h1' },
    { name: 'a wrong fromHostId', plan: doc([mv('a', 'h2', 'h2')]), error: 'fromHostId h2, but the VM is on h1' },
    { name: 'a target not connected', plan: doc([mv('a', 'h1', 'h4')]), error: 'target h4 is maintenance' },
    { name: 'memory over capacity', plan: doc([mv('a', 'h1', 'h2')]), error: 'h2 configured memory' },
    { name: 'a missing network', plan: doc([mv('a', 'h1', 'h3')]), error: 'h3 lacks network prod' },
    { name: 'a disabled VM moved', plan: doc([mv('d', 'h2', 'h3', 'balance', 3)], [{ vmId: 'a', reason: 'x' }]), error: 'automation level disabled' },
    { name: 'a wrong priority', plan: doc([mv('a', 'h1', 'h3', 'evacuation', 2)]), error: 'priority 2 with reason evacuation' },
    { name: 'too many balancing moves', plan: doc([mv('b', 'h2', 'h3', 'balance', 3), mv('b', 'h3', 'h2', 'balance', 3)], [{ vmId: 'a', reason: 'x' }]), error: 'above the cap 1' },
    { name: 'a wrong imbalanceAfter', plan: { ...doc([], [{ vmId: 'a', reason: 'x' }]), imbalanceAfter: 0.5 }, error: 'imbalanceAfter 0.5' },
  ])('flags $name', ({ plan, error }) => {
    const report = validatePlan(s, plan);
    expect(report.valid).toBe(false);
    expect(report.errors.join('\n')).toContain(error);
  });

  it('flags a must rule the plan breaks', () => {
    const s2 = snapshot({ hosts: [host('x'), host('y')], vms: [vm('a', 'x'), vm('b', 'y')], rules: [{ id: 'apart', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['a', 'b'] }] });
    const loc = new Map([['a', 'x'], ['b', 'y']]);
    const after = new Map([['a', 'y'], ['b', 'y']]);
    const report = validatePlan(s2, { version: 1, clusterId: 'test', moves: [mv('a', 'x', 'y', 'balance', 3)], imbalanceBefore: imbalance(s2, loc), imbalanceAfter: imbalance(s2, after), unresolved: [] });
    expect(report.errors).toContain('must rule apart is broken by the plan');
  });
});
