import { describe, expect, it } from '@jest/globals';
import { host, snapshot, vm, vmsOn } from '../../test/support/builders.js';
import { validatePlan } from '../../test/support/plan-validator.js';
import { plan } from './plan.js';
import type { PlanOptions } from './builder.js';
import type { Rule, Snapshot } from './snapshot.js';

/** Plans and checks the plan with the independent validator. */
function planned(s: Snapshot, options: PlanOptions = {}) {
  const result = plan(s, options);
  const report = validatePlan(s, result.plan, { evacuatePoweredOff: options.evacuatePoweredOff, maxOptionalMoves: options.maxMoves });
  expect(report.errors).toEqual([]);
  return { ...result, report };
}

const moved = (p: ReturnType<typeof planned>, id: string) => p.plan.moves.filter((m) => m.vmId === id);

describe('evacuation', () => {
  const cluster = (over: { vms?: Snapshot['vms']; hosts?: Snapshot['hosts']; rules?: Snapshot['rules'] } = {}) =>
    snapshot({
      hosts: over.hosts ?? [host('h1', { state: 'entering-maintenance' }), host('h2'), host('h3'), host('h4')],
      vms: over.vms ?? [vm('big', 'h1', { memoryMb: 65_536 }), vm('small', 'h1', { memoryMb: 4_096 }), vm('mid', 'h1', { memoryMb: 16_384 }), ...vmsOn('h2', 3, 'w')],
      rules: over.rules,
      policy: { migrationThreshold: 3 },
    });

  it('moves every VM off the host, priority 1, largest first', () => {
    const p = planned(cluster());
    const evacuations = p.plan.moves.filter((m) => m.reason === 'evacuation');
    expect(evacuations.map((m) => m.vmId)).toEqual(['big', 'mid', 'small']);
    expect(evacuations.every((m) => m.priority === 1 && m.fromHostId === 'h1')).toBe(true);
    expect(p.report.leftOnEnteringHosts).toEqual([]);
  });

  it('leaves a disabled VM, reported in unresolved, and moves the rest', () => {
    const p = planned(cluster({ vms: [vm('pinned', 'h1', { automationLevel: 'disabled' }), vm('free', 'h1')] }));
    expect(p.plan.unresolved).toContainEqual({ vmId: 'pinned', reason: expect.stringContaining('disabled') });
    expect(moved(p, 'free')).toHaveLength(1);
    expect(moved(p, 'pinned')).toHaveLength(0);
  });

  it('moves manual and cooling VMs too (mandatory)', () => {
    const s = cluster({ vms: [vm('manual', 'h1', { automationLevel: 'manual' }), vm('recent', 'h1', { lastMigratedAt: '2026-11-25T11:59:00Z' })] });
    const p = planned({ ...s, takenAt: '2026-11-25T12:00:00Z', policy: { ...s.policy, migrationCooldownMinutes: 30 } });
    expect(moved(p, 'manual')).toHaveLength(1);
    expect(moved(p, 'recent')).toHaveLength(1);
  });

  it('powered-off VMs move by default, and stay (not unresolved) with evacuatePoweredOff false', () => {
    const s = cluster({ vms: [vm('on', 'h1'), vm('off', 'h1', { powerState: 'off' })] });
    expect(moved(planned(s), 'off')).toHaveLength(1);
    const kept = planned(s, { evacuatePoweredOff: false });
    expect(moved(kept, 'off')).toHaveLength(0);
    expect(kept.plan.unresolved).toEqual([]);
  });

  it('says which VM cannot leave and why', () => {
    const s = cluster({
      hosts: [host('h1', { state: 'entering-maintenance', compatibilityGroup: 'cpu-1' }), host('h2', { compatibilityGroup: 'cpu-1', memoryCapacityMb: 32_768 }), host('h3', { compatibilityGroup: 'cpu-0' })],
      vms: [vm('huge', 'h1', { memoryMb: 65_536 }), vm('ok', 'h1', { memoryMb: 8_192 })],
    });
    const p = planned(s);
    expect(p.plan.unresolved).toEqual([{ vmId: 'huge', reason: 'no host has 65536 MB free in compatibility group cpu-1' }]);
    expect(moved(p, 'ok')).toEqual([expect.objectContaining({ toHostId: 'h2' })]);
  });

  it('makes room first when the VM fits only after a smaller one moves', () => {
    // h2 is the only host with the dmz network but is nearly full; h3 can take the filler.
    const s = cluster({
      hosts: [
        host('h1', { state: 'entering-maintenance', networks: ['mgmt', 'prod', 'dmz'] }),
        host('h2', { networks: ['mgmt', 'prod', 'dmz'], memoryCapacityMb: 65_536 }),
        host('h3'),
      ],
      vms: [vm('dmz-vm', 'h1', { memoryMb: 32_768, networks: ['prod', 'dmz'] }), vm('filler', 'h2', { memoryMb: 40_000 })],
    });
    const p = planned(s);
    expect(p.plan.moves.map((m) => [m.vmId, m.toHostId, m.reason])).toEqual([
      ['filler', 'h3', 'evacuation'],
      ['dmz-vm', 'h2', 'evacuation'],
    ]);
    expect(p.trace.moves[0]).toMatchObject({ step: 'room', note: expect.stringContaining('dmz-vm') });
  });

  it('moves a must-affinity group together to one host', () => {
    const s = cluster({
      vms: [vm('a', 'h1'), vm('b', 'h1'), ...vmsOn('h2', 4, 'w')],
      rules: [{ id: 'pair', kind: 'vm-affinity', mode: 'must', vmIds: ['a', 'b'] }],
    });
    const p = planned(s);
    const targets = new Set([...moved(p, 'a'), ...moved(p, 'b')].map((m) => m.toHostId));
    expect(targets.size).toBe(1);
    expect(p.report.mustBrokenAfter).toEqual([]);
  });

  it('evacuate-only mode evacuates and does not balance', () => {
    const s = cluster({ vms: [vm('x', 'h1'), ...vmsOn('h2', 12, 'hot', { cpuDemandMhz: 6_000 })] });
    const p = planned({ ...s, policy: { ...s.policy, migrationThreshold: 5 } }, { mode: 'evacuate-only' });
    expect(p.plan.moves.map((m) => m.reason)).toEqual(['evacuation']);
  });
});

describe('must-rule repair', () => {
  const hosts = [host('h1'), host('h2'), host('h3')];
  const base = (rules: Snapshot['rules'], vms: Snapshot['vms']) => snapshot({ hosts, vms, rules, policy: { migrationThreshold: 1 } });

  const cases: { kind: string; vms: Snapshot['vms']; rule: Rule; moves: number }[] = [
    {
      kind: 'vm-anti-affinity',
      vms: [vm('a', 'h1'), vm('b', 'h1'), vm('c', 'h2')],
      rule: { id: 'r', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['a', 'b', 'c'] },
      moves: 1,
    },
    {
      kind: 'vm-affinity',
      vms: [vm('a', 'h1', { memoryMb: 8_192 }), vm('b', 'h2', { memoryMb: 32_768 })],
      rule: { id: 'r', kind: 'vm-affinity', mode: 'must', vmIds: ['a', 'b'] },
      moves: 1,
    },
    {
      kind: 'vm-host-affinity',
      vms: [vm('a', 'h1'), vm('b', 'h3')],
      rule: { id: 'r', kind: 'vm-host-affinity', mode: 'must', vmIds: ['a', 'b'], hostIds: ['h3'] },
      moves: 1,
    },
    {
      kind: 'vm-host-anti-affinity',
      vms: [vm('a', 'h1'), vm('b', 'h1')],
      rule: { id: 'r', kind: 'vm-host-anti-affinity', mode: 'must', vmIds: ['a', 'b'], hostIds: ['h1'] },
      moves: 2,
    },
  ];
  it.each(cases)('repairs a broken $kind rule with priority-1 moves', ({ vms, rule, moves }) => {
    const p = planned(base([rule], vms));
    expect(p.report.mustBrokenBefore).toEqual(['r']);
    expect(p.report.mustBrokenAfter).toEqual([]);
    expect(p.plan.moves).toHaveLength(moves);
    expect(p.plan.moves.every((m) => m.priority === 1 && m.reason === 'rule')).toBe(true);
  });

  it('gathers an affinity group by moving the smaller VM', () => {
    const p = planned(base([{ id: 'r', kind: 'vm-affinity', mode: 'must', vmIds: ['a', 'b'] }], [vm('a', 'h1', { memoryMb: 8_192 }), vm('b', 'h2', { memoryMb: 32_768 })]));
    expect(p.plan.moves).toEqual([expect.objectContaining({ vmId: 'a', toHostId: 'h2' })]);
  });

  it('keeps the disabled VM of an anti-affinity pair and moves the other', () => {
    const p = planned(base([{ id: 'r', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['a', 'b'] }], [vm('a', 'h1', { automationLevel: 'disabled', memoryMb: 4_096 }), vm('b', 'h1')]));
    expect(p.plan.moves.map((m) => m.vmId)).toEqual(['b']);
  });

  it('reports a rule no plan can repair', () => {
    const s = snapshot({
      hosts: [host('h1', { compatibilityGroup: 'g0' }), host('h2', { compatibilityGroup: 'g1' })],
      vms: [vm('a', 'h1'), vm('b', 'h2')],
      rules: [{ id: 'apart-groups', kind: 'vm-affinity', mode: 'must', vmIds: ['a', 'b'] }],
    });
    const p = planned(s);
    expect(p.plan.unresolved).toEqual([{ ruleId: 'apart-groups', reason: expect.stringContaining('different compatibility groups') }]);
  });

  it('a must rule in conflict is reported with the rule it conflicts with and blocks no other repair', () => {
    const p = planned(
      base(
        [
          { id: 'together', kind: 'vm-affinity', mode: 'must', vmIds: ['a', 'b'] },
          { id: 'apart', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['a', 'b'] },
          { id: 'bc-together', kind: 'vm-affinity', mode: 'must', vmIds: ['c', 'b'] },
        ],
        [vm('a', 'h1'), vm('b', 'h2'), vm('c', 'h3')],
      ),
    );
    // c joins b (bc-together repaired); a and b stay apart: "together" cannot hold beside "apart".
    expect(p.plan.moves).toEqual([expect.objectContaining({ vmId: 'c', toHostId: 'h2', reason: 'rule' })]);
    expect(p.plan.unresolved).toEqual([
      { ruleId: 'together', reason: expect.stringMatching(/^must rule left broken \(its VMs are spread over h1, h2\): it conflicts with must rule "apart": a and b must share a host/) },
    ]);
  });

  it('the reason for an affinity group that cannot gather names the VM and how it joins the rule', () => {
    const s = base(
      [
        { id: 'ab', kind: 'vm-affinity', mode: 'must', vmIds: ['a', 'b'] },
        { id: 'bc', kind: 'vm-affinity', mode: 'must', vmIds: ['b', 'c'] },
      ],
      [vm('a', 'h1', { automationLevel: 'disabled' }), vm('b', 'h2'), vm('c', 'h2', { memoryMb: 400_000 }), vm('filler', 'h1', { memoryMb: 200_000, automationLevel: 'disabled' })],
    );
    const p = planned(s);
    const reasons = Object.fromEntries(p.plan.unresolved.map((u) => [u.ruleId, u.reason]));
    expect(Object.keys(reasons)).toEqual(['ab']);
    expect(reasons.ab).toMatch(/: c \(in the group through must rule bc\): /);
  });

  it('balancing never breaks a kept must rule', () => {
    const s = snapshot({
      hosts: [host('hot'), host('cold')],
      vms: [...vmsOn('hot', 8, 'busy', { cpuDemandMhz: 8_000 }), vm('peer', 'cold')],
      rules: [{ id: 'apart', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['busy-1', 'peer'] }],
    });
    const p = planned(s, { threshold: 5 });
    expect(p.plan.moves.length).toBeGreaterThan(0);
    expect(moved(p, 'busy-1')).toEqual([]);
    expect(p.report.mustBrokenAfter).toEqual([]);
  });

  it('leaves should rules broken when keeping them costs balance, and says so', () => {
    const s = snapshot({
      hosts: [host('h1'), host('h2')],
      vms: [vm('a', 'h1'), vm('b', 'h2')],
      rules: [{ id: 'together', kind: 'vm-affinity', mode: 'should', vmIds: ['a', 'b'] }],
    });
    const p = planned(s, { threshold: 5 });
    expect(p.plan.unresolved).toEqual([{ ruleId: 'together', reason: expect.stringContaining('should rule left broken') }]);
  });
});

describe('overload relief', () => {
  it('moves VMs off a host above the overload level until it is under it (priority 2)', () => {
    const s = snapshot({
      hosts: [host('hot'), host('h2'), host('h3')],
      vms: [...vmsOn('hot', 10, 'busy', { cpuDemandMhz: 7_000 }), ...vmsOn('h2', 2, 'w')],
      policy: { migrationThreshold: 3 },
    });
    const p = planned(s);
    const relief = p.plan.moves.filter((m) => m.reason === 'overload');
    expect(relief.length).toBeGreaterThan(0);
    expect(relief.every((m) => m.priority === 2 && m.fromHostId === 'hot')).toBe(true);
    const left = 10 - p.plan.moves.filter((m) => m.fromHostId === 'hot').length;
    expect((left * 7_000) / 76_800).toBeLessThanOrEqual(0.85);
  });

  it('a host above a hard cap is relieved with priority 1, even at threshold 1', () => {
    const s = snapshot({
      hosts: [host('hot'), host('h2')],
      vms: vmsOn('hot', 10, 'busy', { cpuDemandMhz: 7_000 }),
      policy: { migrationThreshold: 1, maxCpuUtilization: 0.8 },
    });
    const p = planned(s);
    expect(p.plan.moves.length).toBeGreaterThan(0);
    expect(p.plan.moves.every((m) => m.reason === 'overload' && m.priority === 1)).toBe(true);
  });
});

describe('threshold levels, the move cap and the cost-benefit gate', () => {
  const unbalanced = snapshot({
    hosts: [host('h1'), host('h2'), host('h3'), host('h4')],
    vms: [...vmsOn('h1', 14, 'a', { cpuDemandMhz: 3_500, memoryActiveMb: 12_000 }), ...vmsOn('h2', 6, 'b'), ...vmsOn('h3', 2, 'c')],
  });

  it('threshold 1 keeps only mandatory moves', () => {
    expect(planned(unbalanced, { threshold: 1 }).plan.moves).toEqual([]);
  });

  it.each([2, 3, 4, 5])('threshold %i keeps priorities up to it', (threshold) => {
    const p = planned(unbalanced, { threshold });
    expect(p.plan.moves.every((m) => m.priority <= threshold)).toBe(true);
    expect(p.trace.threshold.threshold).toBe(threshold);
  });

  it('a more aggressive threshold balances at least as far', () => {
    const after = [2, 3, 4, 5].map((threshold) => planned(unbalanced, { threshold }).plan.imbalanceAfter);
    for (let i = 1; i < after.length; i++) expect(after[i]).toBeLessThanOrEqual(after[i - 1] + 1e-12);
    expect(after[3]).toBeLessThan(planned(unbalanced, { threshold: 1 }).plan.imbalanceAfter);
  });

  it('threshold 3 stops at its target imbalance', () => {
    const p = planned(unbalanced, { threshold: 3 });
    expect(p.plan.imbalanceBefore).toBeGreaterThan(0.08);
    expect(p.trace.summary.balanceStop).toMatch(/target|pays|maxMoves/);
  });

  it('maxMoves caps the balancing moves', () => {
    const p = planned(unbalanced, { threshold: 5, maxMoves: 2 });
    expect(p.plan.moves.filter((m) => m.priority >= 2)).toHaveLength(2);
  });

  it('a nearly balanced cluster gets no churn', () => {
    const even = snapshot({ hosts: [host('h1'), host('h2')], vms: [...vmsOn('h1', 5, 'a'), ...vmsOn('h2', 5, 'b'), vm('tiny', 'h1', { memoryMb: 2_048, cpuDemandMhz: 50, memoryActiveMb: 300 })] });
    expect(planned(even, { threshold: 5 }).plan.moves).toEqual([]);
  });
});

describe('cooldown and automation levels', () => {
  const s = snapshot({
    hosts: [host('hot'), host('cold')],
    vms: [
      ...vmsOn('hot', 6, 'busy', { cpuDemandMhz: 9_000, memoryActiveMb: 14_000 }),
      vm('recent', 'hot', { cpuDemandMhz: 9_000, memoryActiveMb: 14_000, lastMigratedAt: '2026-11-25T11:45:00Z' }),
      vm('manual', 'hot', { cpuDemandMhz: 9_000, memoryActiveMb: 14_000, automationLevel: 'manual' }),
      vm('pinned', 'hot', { cpuDemandMhz: 9_000, memoryActiveMb: 14_000, automationLevel: 'disabled' }),
    ],
    policy: { migrationCooldownMinutes: 30 },
    takenAt: '2026-11-25T12:00:00Z',
  });

  it('balancing leaves cooling, manual and disabled VMs, and the trace says why', () => {
    const p = planned(s, { threshold: 5 });
    expect(p.plan.moves.length).toBeGreaterThan(0);
    for (const id of ['recent', 'manual', 'pinned']) expect(moved(p, id)).toEqual([]);
    const why = Object.fromEntries(p.trace.stayed.map((x) => [x.vmId, x.reasons[0].plugin]));
    expect(why).toMatchObject({ recent: 'cooldown', manual: 'automation-level', pinned: 'automation-level' });
  });

  it('without takenAt there is no cooldown', () => {
    const { takenAt: _, ...noClock } = s;
    const p = planned(noClock as Snapshot, { threshold: 5 });
    expect(p.trace.stayed.flatMap((x) => x.reasons).map((r) => r.plugin)).not.toContain('cooldown');
  });

  it('the cluster automation level does not change the plan', () => {
    const manual = { ...s, policy: { ...s.policy, automationLevel: 'manual' as const } };
    expect(plan(manual, { threshold: 5 }).plan).toEqual(plan(s, { threshold: 5 }).plan);
  });
});

describe('plan and trace', () => {
  const s = snapshot({
    hosts: [host('h1', { state: 'entering-maintenance' }), host('h2'), host('h3')],
    vms: [...vmsOn('h1', 3, 'x'), ...vmsOn('h2', 9, 'y', { cpuDemandMhz: 5_000 })],
    rules: [{ id: 'apart', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['y-1', 'y-2'] }],
  });

  it('is deterministic', () => {
    expect(plan(s, { threshold: 5 })).toEqual(plan(structuredClone(s), { threshold: 5 }));
  });

  it('has one trace entry per move, in order, with the step, score and cost', () => {
    const p = planned(s, { threshold: 5 });
    expect(p.trace.moves.map((t) => t.vmId)).toEqual(p.plan.moves.map((m) => m.vmId));
    expect(p.trace.moves.map((t) => t.index)).toEqual(p.plan.moves.map((_, i) => i));
    // Each entry names the move's source and target hosts, as the plan has them after refinement and replay.
    expect(p.trace.moves.map((t) => [t.fromHostId, t.toHostId])).toEqual(p.plan.moves.map((m) => [m.fromHostId, m.toHostId]));
    for (const t of p.trace.moves) {
      expect(t.score.total).toEqual(expect.any(Number));
      expect(t.cost.seconds).toBeGreaterThan(0);
    }
    expect(p.trace.moves.at(-1)?.imbalanceAfter).toBeCloseTo(p.plan.imbalanceAfter, 9);
    expect(p.trace.summary.moves).toBe(p.plan.moves.length);
    expect(p.trace.threshold.keptPriorities).toEqual([1, 2, 3, 4, 5]);
  });

  it('bounds the list of VMs that stayed', () => {
    const big = snapshot({ hosts: [host('h1'), host('h2')], vms: [...vmsOn('h1', 40, 'a', { automationLevel: 'manual', cpuDemandMhz: 1_500 })] });
    const p = plan(big, { threshold: 5, traceVms: 5, traceReasons: 1 });
    expect(p.trace.stayed).toHaveLength(5);
    expect(p.trace.stayed.every((x) => x.reasons.length === 1)).toBe(true);
    expect(p.trace.stayedOmitted).toBeGreaterThan(0);
  });

  it('reports the reference imbalance before and after', () => {
    const p = planned(s, { threshold: 5 });
    expect(p.plan.imbalanceBefore).toBeCloseTo(p.report.imbalanceBefore, 12);
    expect(p.plan.imbalanceAfter).toBeLessThan(p.plan.imbalanceBefore);
  });
});
