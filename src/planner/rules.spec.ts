import { describe, expect, it } from '@jest/globals';
import { host, snapshot, vm } from '../../test/support/builders.js';
import { compileModel } from './model.js';
import { describeBreak, isBroken, shouldRuleChanges } from './rules.js';
import type { Rule } from './snapshot.js';

const hosts = [host('h1'), host('h2'), host('h3')];

function check(rule: Rule, placement: Record<string, string>) {
  const s = snapshot({ hosts, vms: Object.entries(placement).map(([id, h]) => vm(id, h)), rules: [rule] });
  const model = compileModel(s);
  return { model, rule: model.rules[0], host: model.initialHost };
}

describe('rules', () => {
  it.each([
    { kind: 'vm-anti-affinity', placement: { a: 'h1', b: 'h2', c: 'h3' }, broken: false },
    { kind: 'vm-anti-affinity', placement: { a: 'h1', b: 'h2', c: 'h1' }, broken: true, says: 'a, c share h1' },
    { kind: 'vm-affinity', placement: { a: 'h2', b: 'h2', c: 'h2' }, broken: false },
    { kind: 'vm-affinity', placement: { a: 'h2', b: 'h2', c: 'h3' }, broken: true, says: 'spread over h2, h3' },
    { kind: 'vm-host-affinity', placement: { a: 'h1', b: 'h2', c: 'h1' }, broken: false },
    { kind: 'vm-host-affinity', placement: { a: 'h1', b: 'h3', c: 'h1' }, broken: true, says: 'b is on h3, outside its hosts' },
    { kind: 'vm-host-anti-affinity', placement: { a: 'h3', b: 'h3', c: 'h3' }, broken: false },
    { kind: 'vm-host-anti-affinity', placement: { a: 'h3', b: 'h2', c: 'h3' }, broken: true, says: 'b is on h2, one of its excluded hosts' },
  ] as const)('$kind with $placement: broken $broken', ({ kind, placement, broken, ...rest }) => {
    const hostIds = kind === 'vm-host-affinity' ? ['h1', 'h2'] : kind === 'vm-host-anti-affinity' ? ['h1', 'h2'] : undefined;
    const rule: Rule = { id: 'r', kind, mode: 'must', vmIds: ['a', 'b', 'c'], ...(hostIds ? { hostIds } : {}) };
    const c = check(rule, placement);
    expect(isBroken(c.rule, c.host)).toBe(broken);
    if ('says' in rest) expect(describeBreak(c.model, c.rule, c.host)).toContain(rest.says);
  });

  it('judges a hypothetical move without changing the placement', () => {
    const c = check({ id: 'r', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['a', 'b'] }, { a: 'h1', b: 'h2' });
    expect(isBroken(c.rule, c.host, 0, 1)).toBe(true);
    expect(isBroken(c.rule, c.host, 0, 2)).toBe(false);
    expect(isBroken(c.rule, c.host)).toBe(false);
  });

  it('counts should rules broken and repaired by a move', () => {
    const s = snapshot({
      hosts,
      vms: [vm('a', 'h1'), vm('b', 'h2'), vm('c', 'h1')],
      rules: [
        { id: 'apart', kind: 'vm-anti-affinity', mode: 'should', vmIds: ['a', 'b'] },
        { id: 'together', kind: 'vm-affinity', mode: 'should', vmIds: ['a', 'c'] },
      ],
    });
    const model = compileModel(s);
    expect(shouldRuleChanges(model, model.initialHost, 0, 1)).toEqual({ broken: 2, repaired: 0 });
    expect(shouldRuleChanges(model, model.initialHost, 1, 0)).toEqual({ broken: 1, repaired: 0 });
    expect(shouldRuleChanges(model, model.initialHost, 0, 2)).toEqual({ broken: 1, repaired: 0 });
  });

  it('joins must-affinity rules sharing a VM into one unit', () => {
    const s = snapshot({
      hosts,
      vms: [vm('a', 'h1'), vm('b', 'h1'), vm('c', 'h1'), vm('d', 'h2')],
      rules: [
        { id: 'ab', kind: 'vm-affinity', mode: 'must', vmIds: ['a', 'b'] },
        { id: 'bc', kind: 'vm-affinity', mode: 'must', vmIds: ['b', 'c'] },
        { id: 'soft', kind: 'vm-affinity', mode: 'should', vmIds: ['c', 'd'] },
      ],
    });
    const model = compileModel(s);
    expect(model.affinityUnits.map((u) => Array.from(u))).toEqual([[0, 1, 2]]);
    expect(model.vmAffinityUnit[3]).toBe(-1);
  });
});
