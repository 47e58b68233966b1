import { describe, expect, it } from '@jest/globals';
import { host, snapshot, vm } from '../../../test/support/builders.js';
import { compileModel } from '../model.js';
import { Placement } from '../placement.js';
import type { Snapshot } from '../snapshot.js';
import { balance, migrationCost, scoreMove, shouldRules, SHOULD_BREAK_PENALTY, SHOULD_REPAIR_BONUS, type ScoreContext } from './scores.js';

function context(s: Snapshot, gainPerSecond = 0.001): ScoreContext {
  const model = compileModel(s);
  const placement = new Placement(model);
  return { model, placement, optional: true, unit: null, imbalance: placement.imbalance(), gainPerSecond };
}

describe('score plugins', () => {
  const unbalanced = snapshot({ hosts: [host('h1'), host('h2'), host('h3')], vms: [vm('a', 'h1'), vm('b', 'h1'), vm('c', 'h2')] });

  it.each([
    { name: 'moving off the hottest host to the empty one gains', vm: 'a', to: 'h3', sign: 1 },
    { name: 'moving onto the hottest host loses', vm: 'c', to: 'h1', sign: -1 },
  ])('balance: $name', ({ vm: id, to, sign }) => {
    const ctx = context(unbalanced);
    const v = ctx.model.vmIndex.get(id) as number;
    const t = ctx.model.hostIndex.get(to) as number;
    const expected = (ctx.imbalance - ctx.placement.imbalanceIfMoved(v, t)) * ctx.model.connectedCount;
    expect(balance.score(ctx, v, t)).toBeCloseTo(expected, 12);
    expect(Math.sign(balance.score(ctx, v, t))).toBe(sign);
  });

  it.each([
    { name: '16 GB over 10 Gb/s', bandwidth: undefined, memoryMb: 16_384, seconds: (16_384 * 8) / 10_000 },
    { name: '16 GB over 1 Gb/s links', bandwidth: 1_000, memoryMb: 16_384, seconds: (16_384 * 8) / 1_000 },
    { name: '64 GB over 10 Gb/s', bandwidth: undefined, memoryMb: 65_536, seconds: (65_536 * 8) / 10_000 },
  ])('migration cost: $name', ({ bandwidth, memoryMb, seconds }) => {
    const s = snapshot({
      hosts: [host('h1', bandwidth ? { migrationBandwidthMbps: bandwidth } : {}), host('h2')],
      vms: [vm('a', 'h1', { memoryMb })],
    });
    const ctx = context(s, 0.002);
    expect(migrationCost.score(ctx, 0, 1)).toBeCloseTo(-seconds * 0.002, 9);
  });

  it.each([
    { name: 'breaking a kept should anti-affinity costs', rule: { id: 'p', kind: 'vm-anti-affinity', mode: 'should', vmIds: ['a', 'c'] }, to: 'h2', score: -SHOULD_BREAK_PENALTY },
    { name: 'repairing a broken should affinity gains a little', rule: { id: 'p', kind: 'vm-affinity', mode: 'should', vmIds: ['a', 'c'] }, to: 'h2', score: SHOULD_REPAIR_BONUS },
    { name: 'a move that does not touch the rule scores 0', rule: { id: 'p', kind: 'vm-affinity', mode: 'should', vmIds: ['b', 'c'] }, to: 'h3', score: 0 },
    { name: 'must rules are not scored', rule: { id: 'p', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['a', 'c'] }, to: 'h2', score: 0 },
  ] as const)('should rules: $name', ({ rule, to, score }) => {
    const s = { ...unbalanced, rules: [{ ...rule, vmIds: [...rule.vmIds] }] };
    const ctx = context(s);
    expect(shouldRules.score(ctx, 0, ctx.model.hostIndex.get(to) as number)).toBeCloseTo(score, 12);
  });

  it('scoreMove reports each plugin and the weighted total', () => {
    const ctx = context(unbalanced);
    const breakdown = scoreMove([balance, migrationCost, shouldRules], ctx, 0, 2);
    expect(breakdown.total).toBeCloseTo(breakdown.balance + breakdown['migration-cost'] + breakdown['should-rules'], 12);
    expect(Object.keys(breakdown).sort()).toEqual(['balance', 'migration-cost', 'should-rules', 'total']);
  });
});
