import { describe, expect, it } from '@jest/globals';
import { plan, validateSnapshot } from '../../src/planner/index.js';
import { validatePlan } from '../support/plan-validator.js';
import { loadSample } from '../support/samples.js';

/** The shared sample snapshots, planned at every threshold, checked by the independent validator. */
const load = (name: string) => validateSnapshot(loadSample(`${name}.json`));

describe.each(['sample-small', 'sample-evacuate', 'sample-rules', 'sample-96-hosts'])('%s', (name) => {
  const snapshot = load(name);

  it.each([1, 3, 5])('threshold %i: a valid plan', (threshold) => {
    const result = plan(snapshot, { threshold });
    const report = validatePlan(snapshot, result.plan);
    expect(report.errors).toEqual([]);
    expect(report.leftOnEnteringHosts).toEqual([]);
    expect(report.mustBrokenAfter.length).toBeLessThanOrEqual(report.mustBrokenBefore.length);
    if (threshold > 1) expect(result.plan.imbalanceAfter).toBeLessThan(result.plan.imbalanceBefore);
  });
});

describe('the samples, specifically', () => {
  it('sample-evacuate: esx-005 is emptied and both broken anti-affinity rules are repaired', () => {
    const s = load('sample-evacuate');
    const result = plan(s);
    const onIt = s.vms.filter((v) => v.hostId === 'esx-005').map((v) => v.id).sort();
    const evacuated = result.plan.moves.filter((m) => m.reason === 'evacuation' && m.fromHostId === 'esx-005').map((m) => m.vmId).sort();
    expect(evacuated).toEqual(onIt);
    expect(result.trace.summary.mustRulesBrokenAfter).toBe(0);
  });

  it('sample-rules: the repairable must rules are repaired, the others explained', () => {
    const result = plan(load('sample-rules'));
    const left = result.plan.unresolved.filter((u) => u.ruleId !== undefined && u.reason.startsWith('must rule'));
    expect(left.map((u) => u.ruleId).sort()).toEqual(['aff-2', 'aff-4', 'aff-5', 'vmhost-1']);
    expect(left.find((u) => u.ruleId === 'aff-2')?.reason).toContain('different compatibility groups');
  });
});
