import { describe, expect, it } from '@jest/globals';
import { host, snapshot, vm } from '../../../test/support/builders.js';
import { compileModel } from '../model.js';
import { Placement } from '../placement.js';
import type { Snapshot } from '../snapshot.js';
import {
  ALL_FILTERS,
  automationLevel,
  compatibilityGroup,
  cooldown,
  cpuCap,
  datastores,
  firstRejection,
  hostState,
  memoryCapacity,
  mustAffinity,
  mustRules,
  networks,
  type FilterContext,
  type FilterPlugin,
} from './filters.js';

function context(s: Snapshot, optional = true, unit: string[] | null = null): FilterContext {
  const model = compileModel(s);
  const placement = new Placement(model);
  return { model, placement, optional, unit: unit === null ? null : new Set(unit.map((id) => model.vmIndex.get(id) as number)) };
}

interface Case {
  name: string;
  plugin: FilterPlugin;
  snapshot: Snapshot;
  vm: string;
  to: string;
  optional?: boolean;
  unit?: string[];
  /** null: accepted; else a fragment of the reason. */
  rejects: string | null;
}

const two = (vmOver: Parameters<typeof vm>[2] = {}, hostOver: Parameters<typeof host>[1] = {}, policy = {}) =>
  snapshot({ hosts: [host('h1'), host('h2', hostOver)], vms: [vm('a', 'h1', vmOver)], policy, takenAt: '2026-11-25T12:00:00Z' });

const CASES: Case[] = [
  { name: 'automation default moves', plugin: automationLevel, snapshot: two(), vm: 'a', to: 'h2', rejects: null },
  { name: 'automation disabled never moves', plugin: automationLevel, snapshot: two({ automationLevel: 'disabled' }), vm: 'a', to: 'h2', optional: false, rejects: 'disabled' },
  { name: 'automation manual: not for balancing', plugin: automationLevel, snapshot: two({ automationLevel: 'manual' }), vm: 'a', to: 'h2', rejects: 'manual' },
  { name: 'automation manual: mandatory moves allowed', plugin: automationLevel, snapshot: two({ automationLevel: 'manual' }), vm: 'a', to: 'h2', optional: false, rejects: null },
  {
    name: 'cooldown: recently migrated VM is not balanced',
    plugin: cooldown,
    snapshot: two({ lastMigratedAt: '2026-11-25T11:50:00Z' }, {}, { migrationCooldownMinutes: 30 }),
    vm: 'a',
    to: 'h2',
    rejects: '30-minute cooldown',
  },
  {
    name: 'cooldown: past the cooldown',
    plugin: cooldown,
    snapshot: two({ lastMigratedAt: '2026-11-25T11:00:00Z' }, {}, { migrationCooldownMinutes: 30 }),
    vm: 'a',
    to: 'h2',
    rejects: null,
  },
  {
    name: 'cooldown: mandatory moves ignore it',
    plugin: cooldown,
    snapshot: two({ lastMigratedAt: '2026-11-25T11:59:00Z' }, {}, { migrationCooldownMinutes: 30 }),
    vm: 'a',
    to: 'h2',
    optional: false,
    rejects: null,
  },
  { name: 'host state connected', plugin: hostState, snapshot: two(), vm: 'a', to: 'h2', rejects: null },
  { name: 'host state maintenance', plugin: hostState, snapshot: two({}, { state: 'maintenance' }), vm: 'a', to: 'h2', rejects: 'h2 is maintenance' },
  { name: 'host state entering-maintenance', plugin: hostState, snapshot: two({}, { state: 'entering-maintenance' }), vm: 'a', to: 'h2', rejects: 'entering-maintenance' },
  { name: 'host state: not to itself', plugin: hostState, snapshot: two(), vm: 'a', to: 'h1', rejects: 'already on h1' },
  { name: 'group: both without', plugin: compatibilityGroup, snapshot: two(), vm: 'a', to: 'h2', rejects: null },
  {
    name: 'group: host group differs',
    plugin: compatibilityGroup,
    snapshot: snapshot({ hosts: [host('h1', { compatibilityGroup: 'g0' }), host('h2', { compatibilityGroup: 'g1' })], vms: [vm('a', 'h1')] }),
    vm: 'a',
    to: 'h2',
    rejects: 'needs g0',
  },
  {
    name: "group: the VM's own group overrides its host's",
    plugin: compatibilityGroup,
    snapshot: snapshot({ hosts: [host('h1', { compatibilityGroup: 'g0' }), host('h2', { compatibilityGroup: 'g1' })], vms: [vm('a', 'h1', { compatibilityGroup: 'g1' })] }),
    vm: 'a',
    to: 'h2',
    rejects: null,
  },
  { name: 'networks present', plugin: networks, snapshot: two({ networks: ['prod'] }), vm: 'a', to: 'h2', rejects: null },
  { name: 'network missing', plugin: networks, snapshot: two({ networks: ['prod', 'dmz'] }), vm: 'a', to: 'h2', rejects: 'lacks network dmz' },
  { name: 'datastore missing', plugin: datastores, snapshot: two({ datastores: ['ds-2'] }), vm: 'a', to: 'h2', rejects: 'lacks datastore ds-2' },
  { name: 'datastore present', plugin: datastores, snapshot: two({}, { datastores: ['ds-1', 'ds-2'] }), vm: 'a', to: 'h2', rejects: null },
  { name: 'memory fits exactly', plugin: memoryCapacity, snapshot: two({ memoryMb: 524_288 }), vm: 'a', to: 'h2', rejects: null },
  {
    name: 'memory: configured memory over capacity',
    plugin: memoryCapacity,
    snapshot: snapshot({ hosts: [host('h1'), host('h2', { memoryCapacityMb: 20_000 })], vms: [vm('a', 'h1'), vm('b', 'h2', { memoryMb: 8_000 })] }),
    vm: 'a',
    to: 'h2',
    rejects: 'has 12000 MB free, the VM needs 16384 MB',
  },
  {
    name: 'memory: overcommit ratio adds room',
    plugin: memoryCapacity,
    snapshot: snapshot({ hosts: [host('h1'), host('h2', { memoryCapacityMb: 20_000 })], vms: [vm('a', 'h1'), vm('b', 'h2', { memoryMb: 8_000 })], policy: { memoryOvercommitRatio: 1.5 } }),
    vm: 'a',
    to: 'h2',
    rejects: null,
  },
  {
    name: 'memory: powered-off VMs take none',
    plugin: memoryCapacity,
    snapshot: snapshot({ hosts: [host('h1'), host('h2', { memoryCapacityMb: 20_000 })], vms: [vm('a', 'h1'), vm('b', 'h2', { memoryMb: 16_000, powerState: 'off' })] }),
    vm: 'a',
    to: 'h2',
    rejects: null,
  },
  { name: 'cpu: no cap set', plugin: cpuCap, snapshot: two({ cpuDemandMhz: 76_000 }), vm: 'a', to: 'h2', rejects: null },
  { name: 'cpu: above the cap', plugin: cpuCap, snapshot: two({ cpuDemandMhz: 70_000 }, {}, { maxCpuUtilization: 0.9 }), vm: 'a', to: 'h2', rejects: 'above the 90% cap' },
  { name: 'cpu: under the cap', plugin: cpuCap, snapshot: two({ cpuDemandMhz: 60_000 }, {}, { maxCpuUtilization: 0.9 }), vm: 'a', to: 'h2', rejects: null },
];

const ruleSnapshot = (rule: Snapshot['rules'][number], extraVms = [vm('b', 'h2')]) =>
  snapshot({ hosts: [host('h1'), host('h2'), host('h3')], vms: [vm('a', 'h1'), ...extraVms], rules: [rule] });

const RULE_CASES: Case[] = [
  { name: 'anti-affinity: peer on the target', plugin: mustRules, snapshot: ruleSnapshot({ id: 'r', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['a', 'b'] }), vm: 'a', to: 'h2', rejects: 'must rule r (b is there)' },
  { name: 'anti-affinity: no peer on the target', plugin: mustRules, snapshot: ruleSnapshot({ id: 'r', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['a', 'b'] }), vm: 'a', to: 'h3', rejects: null },
  { name: 'anti-affinity should: not a filter', plugin: mustRules, snapshot: ruleSnapshot({ id: 'r', kind: 'vm-anti-affinity', mode: 'should', vmIds: ['a', 'b'] }), vm: 'a', to: 'h2', rejects: null },
  { name: 'disabled rule: ignored', plugin: mustRules, snapshot: ruleSnapshot({ id: 'r', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['a', 'b'], enabled: false }), vm: 'a', to: 'h2', rejects: null },
  { name: 'vm-host affinity: a listed host', plugin: mustRules, snapshot: ruleSnapshot({ id: 'r', kind: 'vm-host-affinity', mode: 'must', vmIds: ['a'], hostIds: ['h1', 'h3'] }), vm: 'a', to: 'h3', rejects: null },
  { name: 'vm-host affinity: not listed', plugin: mustRules, snapshot: ruleSnapshot({ id: 'r', kind: 'vm-host-affinity', mode: 'must', vmIds: ['a'], hostIds: ['h1', 'h3'] }), vm: 'a', to: 'h2', rejects: 'not one of its hosts' },
  { name: 'vm-host anti-affinity: excluded host', plugin: mustRules, snapshot: ruleSnapshot({ id: 'r', kind: 'vm-host-anti-affinity', mode: 'must', vmIds: ['a'], hostIds: ['h2'] }), vm: 'a', to: 'h2', rejects: 'excluded hosts' },
  { name: 'vm-host anti-affinity: other host', plugin: mustRules, snapshot: ruleSnapshot({ id: 'r', kind: 'vm-host-anti-affinity', mode: 'must', vmIds: ['a'], hostIds: ['h2'] }), vm: 'a', to: 'h3', rejects: null },
  {
    name: 'affinity: leaving its group alone',
    plugin: mustAffinity,
    snapshot: ruleSnapshot({ id: 'r', kind: 'vm-affinity', mode: 'must', vmIds: ['a', 'b'] }, [vm('b', 'h1')]),
    vm: 'a',
    to: 'h2',
    rejects: 'must rule r (b stays on h1)',
  },
  {
    name: 'affinity: the group moving together',
    plugin: mustAffinity,
    snapshot: ruleSnapshot({ id: 'r', kind: 'vm-affinity', mode: 'must', vmIds: ['a', 'b'] }, [vm('b', 'h1')]),
    vm: 'a',
    to: 'h2',
    unit: ['a', 'b'],
    rejects: null,
  },
  {
    name: 'affinity broken: joining a member',
    plugin: mustAffinity,
    snapshot: ruleSnapshot({ id: 'r', kind: 'vm-affinity', mode: 'must', vmIds: ['a', 'b'] }, [vm('b', 'h2')]),
    vm: 'a',
    to: 'h2',
    rejects: null,
  },
  {
    name: 'affinity broken: to a host without members',
    plugin: mustAffinity,
    snapshot: ruleSnapshot({ id: 'r', kind: 'vm-affinity', mode: 'must', vmIds: ['a', 'b'] }, [vm('b', 'h2')]),
    vm: 'a',
    to: 'h3',
    rejects: 'no member of the group is there',
  },
];

describe('filter plugins', () => {
  it.each([...CASES, ...RULE_CASES])('$name', (c) => {
    const ctx = context(c.snapshot, c.optional ?? true, c.unit ?? null);
    const v = ctx.model.vmIndex.get(c.vm) as number;
    const to = ctx.model.hostIndex.get(c.to) as number;
    expect(c.plugin.accepts(ctx, v, to)).toBe(c.rejects === null);
    if (c.rejects !== null) expect(c.plugin.reason(ctx, v, to)).toContain(c.rejects);
  });

  it('report the first plugin that rejects, cheapest and most fundamental first', () => {
    const s = snapshot({
      hosts: [host('h1'), host('h2', { state: 'maintenance', memoryCapacityMb: 1_000 })],
      vms: [vm('a', 'h1', { automationLevel: 'manual' })],
    });
    const ctx = context(s);
    expect(firstRejection(ALL_FILTERS, ctx, 0, 1)).toEqual({ plugin: 'automation-level', reason: expect.stringContaining('manual') });
    expect(firstRejection(ALL_FILTERS, context(s, false), 0, 1)).toEqual({ plugin: 'host-state', reason: 'h2 is maintenance' });
  });

  it('every plugin has a distinct name', () => {
    expect(new Set(ALL_FILTERS.map((f) => f.name)).size).toBe(ALL_FILTERS.length);
  });
});
