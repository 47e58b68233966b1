import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { checkMoves, plan, type PlanOptions } from '../../src/planner/index.js';
import type { Rule, Snapshot, SnapshotHost, SnapshotVm } from '../../src/planner/snapshot.js';
import { generateScenario } from '../../src/scenarios/generate.js';
import { validatePlan } from '../support/plan-validator.js';

/**
 * Random snapshots, small enough to keep the suite fast but with everything the planner must
 * respect: host states, compatibility groups, networks, datastores, capacity (initial placement
 * may already be over it), automation levels, power states, cooldowns, and rules of every kind,
 * must and should, often broken from the start.
 */
const hostArb = fc.record({
  cpu: fc.constantFrom(20_000, 40_000, 76_800),
  mem: fc.constantFrom(32_768, 65_536, 131_072),
  state: fc.constantFrom('connected', 'connected', 'connected', 'connected', 'entering-maintenance', 'maintenance', 'quarantine'),
  group: fc.constantFrom(undefined, 'g0', 'g1'),
  dmz: fc.boolean(),
  ds2: fc.boolean(),
  bandwidth: fc.constantFrom(undefined, 1_000, 10_000, 25_000),
});

const vmArb = fc.record({
  host: fc.nat(),
  mem: fc.constantFrom(2_048, 4_096, 8_192, 16_384, 32_768),
  cpu: fc.integer({ min: 0, max: 20_000 }),
  active: fc.double({ min: 0, max: 1, noNaN: true }),
  on: fc.constantFrom(true, true, true, false),
  automation: fc.constantFrom(undefined, undefined, undefined, 'manual', 'disabled'),
  dmz: fc.constantFrom(false, false, true),
  ds2: fc.constantFrom(false, false, true),
  ownGroup: fc.constantFrom(undefined, undefined, undefined, 'g0', 'g1'),
  dirty: fc.constantFrom(undefined, 0, 200, 4_000),
  migratedMinutesAgo: fc.constantFrom(undefined, 5, 120),
});

const ruleArb = fc.record({
  kind: fc.constantFrom('vm-anti-affinity', 'vm-affinity', 'vm-host-affinity', 'vm-host-anti-affinity'),
  mode: fc.constantFrom('must', 'must', 'should'),
  vms: fc.uniqueArray(fc.nat({ max: 40 }), { minLength: 1, maxLength: 4 }),
  hosts: fc.uniqueArray(fc.nat({ max: 8 }), { minLength: 1, maxLength: 3 }),
  enabled: fc.constantFrom(undefined, true, false),
});

const snapshotArb = fc
  .record({
    hosts: fc.array(hostArb, { minLength: 2, maxLength: 7 }),
    vms: fc.array(vmArb, { maxLength: 30 }),
    rules: fc.array(ruleArb, { maxLength: 5 }),
    threshold: fc.integer({ min: 1, max: 5 }),
    maxMoves: fc.integer({ min: 0, max: 12 }),
    overcommit: fc.constantFrom(1, 1, 1.5),
    cpuCap: fc.constantFrom(undefined, 0.8, 0.95),
    weights: fc.constantFrom({ cpu: 1, memory: 1 }, { cpu: 3, memory: 1 }, { cpu: 0, memory: 1 }),
    cooldown: fc.constantFrom(undefined, 30),
  })
  .map((r): Snapshot => {
    const hosts: SnapshotHost[] = r.hosts.map((h, i) => ({
      id: `h${i}`,
      cpuCapacityMhz: h.cpu,
      memoryCapacityMb: h.mem,
      state: h.state as SnapshotHost['state'],
      ...(h.group ? { compatibilityGroup: h.group } : {}),
      networks: h.dmz ? ['mgmt', 'prod', 'dmz'] : ['mgmt', 'prod'],
      datastores: h.ds2 ? ['ds-1', 'ds-2'] : ['ds-1'],
      ...(h.bandwidth ? { migrationBandwidthMbps: h.bandwidth } : {}),
    }));
    const takenAt = Date.parse('2026-11-25T12:00:00Z');
    const vms: SnapshotVm[] = r.vms.map((v, i) => ({
      id: `v${i}`,
      hostId: hosts[v.host % hosts.length].id,
      vcpus: 4,
      memoryMb: v.mem,
      cpuDemandMhz: v.cpu,
      memoryActiveMb: Math.round(v.mem * v.active),
      powerState: v.on ? 'on' : 'off',
      ...(v.automation ? { automationLevel: v.automation as SnapshotVm['automationLevel'] } : {}),
      networks: v.dmz ? ['prod', 'dmz'] : ['prod'],
      datastores: [v.ds2 ? 'ds-2' : 'ds-1'],
      ...(v.ownGroup ? { compatibilityGroup: v.ownGroup } : {}),
      ...(v.dirty !== undefined ? { memoryDirtyRateMbps: v.dirty } : {}),
      ...(v.migratedMinutesAgo !== undefined ? { lastMigratedAt: new Date(takenAt - v.migratedMinutesAgo * 60_000).toISOString() } : {}),
    }));
    const rules: Rule[] = [];
    r.rules.forEach((x, i) => {
      const vmIds = [...new Set(x.vms.filter((n) => n < vms.length).map((n) => vms[n].id))];
      const hostIds = [...new Set(x.hosts.filter((n) => n < hosts.length).map((n) => hosts[n].id))];
      const namesHosts = x.kind === 'vm-host-affinity' || x.kind === 'vm-host-anti-affinity';
      if (vmIds.length < (namesHosts ? 1 : 2) || (namesHosts && hostIds.length === 0)) return;
      rules.push({
        id: `r${i}`,
        kind: x.kind as Rule['kind'],
        mode: x.mode as Rule['mode'],
        vmIds,
        ...(namesHosts ? { hostIds } : {}),
        ...(x.enabled !== undefined ? { enabled: x.enabled } : {}),
      });
    });
    return {
      version: 1,
      cluster: { id: 'prop', name: 'prop' },
      takenAt: '2026-11-25T12:00:00Z',
      policy: {
        automationLevel: 'fully-automated',
        migrationThreshold: r.threshold,
        resourceWeights: r.weights,
        maxMovesPerRun: r.maxMoves,
        memoryOvercommitRatio: r.overcommit,
        ...(r.cpuCap !== undefined ? { maxCpuUtilization: r.cpuCap } : {}),
        ...(r.cooldown !== undefined ? { migrationCooldownMinutes: r.cooldown } : {}),
      },
      hosts,
      vms,
      rules,
    };
  });

const optionsArb: fc.Arbitrary<PlanOptions> = fc.record(
  {
    threshold: fc.integer({ min: 1, max: 5 }),
    maxMoves: fc.integer({ min: 0, max: 10 }),
    mode: fc.constantFrom<'full' | 'evacuate-only'>('full', 'evacuate-only'),
    evacuatePoweredOff: fc.boolean(),
  },
  { requiredKeys: [] },
);

const RUNS = { numRuns: Number(process.env.PROPERTY_RUNS ?? 250), seed: Number(process.env.PROPERTY_SEED ?? 20261125) };

describe('planner properties (random snapshots)', () => {
  it('every plan is valid per the independent validator, whatever the options', () => {
    fc.assert(
      fc.property(snapshotArb, optionsArb, (s, options) => {
        const result = plan(s, options);
        const report = validatePlan(s, result.plan, { evacuatePoweredOff: options.evacuatePoweredOff, maxOptionalMoves: options.maxMoves });
        expect(report.errors).toEqual([]);
      }),
      RUNS,
    );
  });

  it('is deterministic: same snapshot and options, same plan and trace', () => {
    fc.assert(
      fc.property(snapshotArb, optionsArb, (s, options) => {
        expect(plan(structuredClone(s), options)).toEqual(plan(s, options));
      }),
      { ...RUNS, numRuns: 100 },
    );
  });

  it("the planner's own check accepts its plans, and a plan never worsens what it cannot fix", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const result = plan(s);
        expect(checkMoves(s, result.plan.moves).problems).toEqual([]);
        expect(result.trace.summary.mustRulesBrokenAfter).toBeLessThanOrEqual(result.trace.summary.mustRulesBrokenBefore);
        expect(result.trace.moves).toHaveLength(result.plan.moves.length);
      }),
      { ...RUNS, numRuns: 150 },
    );
  });
});

describe('planner properties (generated clusters large enough for the cached search)', () => {
  it('every plan is valid and deterministic', () => {
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.nat(),
          hosts: fc.integer({ min: 30, max: 60 }),
          threshold: fc.integer({ min: 2, max: 5 }),
          imbalance: fc.double({ min: 0, max: 1, noNaN: true }),
          entering: fc.integer({ min: 0, max: 2 }),
          cpuCap: fc.constantFrom(undefined, 0.85),
        }),
        (o) => {
          const s = generateScenario({
            seed: o.seed,
            hosts: o.hosts,
            vms: o.hosts * 80,
            clusterId: 'gen',
            compatibilityGroups: 2,
            imbalance: o.imbalance,
            enteringMaintenance: o.entering,
            rules: { antiAffinity: 8, affinity: 4, vmHostAffinity: 2, vmHostAntiAffinity: 2, should: 4 },
            takenAt: '2026-11-25T12:00:00Z',
            poweredOff: 40,
            disabled: 10,
            manual: 10,
            recentlyMigrated: 30,
            policy: { migrationThreshold: o.threshold, maxMovesPerRun: 40, ...(o.cpuCap ? { maxCpuUtilization: o.cpuCap } : {}) },
          });
          const result = plan(s);
          expect(validatePlan(s, result.plan).errors).toEqual([]);
          expect(plan(s)).toEqual(result);
        },
      ),
      { numRuns: 6, seed: RUNS.seed },
    );
  });
});
