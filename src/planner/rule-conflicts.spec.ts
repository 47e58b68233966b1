import { describe, expect, it } from '@jest/globals';
import { conflictOf, findRuleConflicts } from './rule-conflicts.js';
import type { Rule } from './snapshot.js';

const together = (id: string, ...vmIds: string[]): Rule => ({ id, kind: 'vm-affinity', mode: 'must', vmIds });
const apart = (id: string, ...vmIds: string[]): Rule => ({ id, kind: 'vm-anti-affinity', mode: 'must', vmIds });
const onHosts = (id: string, vmIds: string[], hostIds: string[]): Rule => ({ id, kind: 'vm-host-affinity', mode: 'must', vmIds, hostIds });
const offHosts = (id: string, vmIds: string[], hostIds: string[]): Rule => ({ id, kind: 'vm-host-anti-affinity', mode: 'must', vmIds, hostIds });

describe('rule conflicts', () => {
  it('an affinity rule for VMs an anti-affinity rule keeps apart, either way round', () => {
    expect(conflictOf([apart('apart', 'a', 'b', 'c')], together('together', 'a', 'b'))).toEqual({
      ruleId: 'together',
      conflictsWith: ['apart'],
      reason: expect.stringMatching(/a and b must share a host .*"together".* and must not \(anti-affinity "apart"\)/),
    });
    expect(conflictOf([together('together', 'a', 'b')], apart('apart', 'b', 'a'))?.conflictsWith).toEqual(['together']);
  });

  it('through affinity joined transitively, naming the rules that join them', () => {
    const conflict = conflictOf([together('ab', 'a', 'b'), together('bc', 'b', 'c'), together('xy', 'x', 'y')], apart('apart', 'a', 'c'));
    expect(conflict?.conflictsWith).toEqual(['ab', 'bc']);
  });

  it('vm-host rules that leave a group no host', () => {
    expect(conflictOf([onHosts('a-on-1', ['a'], ['h1'])], onHosts('a-on-2', ['a'], ['h2']))?.conflictsWith).toEqual(['a-on-1']);
    expect(conflictOf([onHosts('a-on-1', ['a'], ['h1', 'h2'])], offHosts('a-off', ['a'], ['h1', 'h2']))?.conflictsWith).toEqual(['a-on-1']);
    // a must be on h1, b on h2, and together: whichever comes last names the others.
    const conflict = conflictOf([onHosts('a-on-1', ['a'], ['h1']), onHosts('b-on-2', ['b'], ['h2'])], together('ab', 'a', 'b'));
    expect(conflict?.conflictsWith.sort()).toEqual(['a-on-1', 'b-on-2']);
    expect(conflict?.reason).toContain('no host is left for a, b (which must share a host)');
    expect(conflictOf([onHosts('a-on-1', ['a'], ['h1']), together('ab', 'a', 'b')], onHosts('b-on-2', ['b'], ['h2']))?.conflictsWith.sort()).toEqual(['a-on-1', 'ab']);
  });

  it('anti-affinity between VMs pinned to the same single host', () => {
    const conflict = conflictOf([onHosts('a-on-1', ['a'], ['h1']), onHosts('b-on-1', ['b'], ['h1', 'h2']), offHosts('b-off-2', ['b'], ['h2'])], apart('apart', 'a', 'b'));
    expect(conflict?.conflictsWith.sort()).toEqual(['a-on-1', 'b-off-2', 'b-on-1']);
    expect(conflict?.reason).toContain('may only run on h1');
  });

  it('no conflict: should rules, disabled rules, rules that can all hold', () => {
    const should: Rule = { ...together('soft', 'a', 'b'), mode: 'should' };
    expect(conflictOf([apart('apart', 'a', 'b')], should)).toBeNull();
    expect(conflictOf([{ ...apart('apart', 'a', 'b'), enabled: false }], together('t', 'a', 'b'))).toBeNull();
    expect(conflictOf([apart('apart', 'a', 'c'), onHosts('on', ['a', 'b'], ['h1', 'h2'])], together('t', 'a', 'b'))).toBeNull();
    // The rule itself (an update) is left out.
    expect(conflictOf([apart('r', 'a', 'b')], together('r', 'a', 'b'))).toBeNull();
  });

  it('in a list, each rule against the ones accepted before it', () => {
    const conflicts = findRuleConflicts([together('t', 'a', 'b'), apart('p', 'a', 'b'), apart('q', 'a', 'c'), together('u', 'c', 'd'), together('v', 'a', 'c')]);
    expect(conflicts.map((c) => [c.ruleId, c.conflictsWith])).toEqual([
      ['p', ['t']],
      ['v', ['q']],
    ]);
  });
});
