import { describe, expect, it } from '@jest/globals';
import { validateSnapshot } from '../planner/validate-snapshot.js';
import { referenceImbalance } from '../planner/imbalance.js';
import { demoCluster, generateScenario, mulberry32, type ScenarioOptions } from './generate.js';

const options: ScenarioOptions = {
  seed: 7,
  hosts: 24,
  vms: 1_200,
  clusterId: 'gen',
  compatibilityGroups: 2,
  rules: { antiAffinity: 6, affinity: 3, vmHostAffinity: 2, vmHostAntiAffinity: 2, should: 4 },
  enteringMaintenance: 2,
  imbalance: 0.6,
  takenAt: '2026-11-25T12:00:00Z',
  poweredOff: 30,
  disabled: 5,
  manual: 5,
  recentlyMigrated: 20,
};

describe('generateScenario', () => {
  it('is deterministic: same options, same document', () => {
    expect(generateScenario(options)).toEqual(generateScenario(options));
    expect(generateScenario({ ...options, seed: 8 })).not.toEqual(generateScenario(options));
  });

  it('makes a valid snapshot of the requested shape', () => {
    const s = generateScenario(options);
    expect(validateSnapshot(JSON.parse(JSON.stringify(s)))).toEqual(s);
    expect(s.hosts).toHaveLength(24);
    expect(s.vms).toHaveLength(1_200);
    expect(s.hosts.filter((h) => h.state === 'entering-maintenance')).toHaveLength(2);
    expect(new Set(s.hosts.map((h) => h.compatibilityGroup))).toEqual(new Set(['cpu-0', 'cpu-1']));
    expect(s.vms.filter((v) => v.powerState === 'off')).toHaveLength(30);
    expect(s.vms.filter((v) => v.automationLevel === 'disabled')).toHaveLength(5);
    expect(s.vms.filter((v) => v.lastMigratedAt !== undefined)).toHaveLength(20);
    expect(s.policy.migrationCooldownMinutes).toBe(30);
    const kinds = s.rules.filter((r) => r.mode === 'must').map((r) => r.kind);
    expect(kinds.filter((k) => k === 'vm-anti-affinity')).toHaveLength(6);
    expect(s.rules.filter((r) => r.mode === 'should')).toHaveLength(4);
  });

  it('places VMs within capacity and on hosts offering their networks and datastores', () => {
    const s = generateScenario(options);
    const hosts = new Map(s.hosts.map((h) => [h.id, h]));
    const used = new Map<string, number>();
    for (const v of s.vms) {
      const h = hosts.get(v.hostId)!;
      expect(v.networks.every((n) => h.networks.includes(n))).toBe(true);
      expect(v.datastores.every((d) => h.datastores.includes(d))).toBe(true);
      used.set(h.id, (used.get(h.id) ?? 0) + v.memoryMb);
    }
    for (const [id, mb] of used) expect(mb).toBeLessThanOrEqual(hosts.get(id)!.memoryCapacityMb);
  });

  it('skews the placement with `imbalance`', () => {
    const even = referenceImbalance(generateScenario({ ...options, imbalance: 0, enteringMaintenance: 0 }));
    const skewed = referenceImbalance(generateScenario({ ...options, imbalance: 1, enteringMaintenance: 0 }));
    expect(skewed).toBeGreaterThan(even);
  });

  it('mulberry32 is a deterministic stream in [0, 1)', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
  });
});

describe('demoCluster', () => {
  it('is the same document every time', () => {
    expect(demoCluster()).toEqual(demoCluster());
  });

  it('has 8 hosts, about 150 VMs, networks, datastores, rules and powered-off VMs, visibly unbalanced', () => {
    const s = demoCluster();
    expect(validateSnapshot(JSON.parse(JSON.stringify(s)))).toEqual(s);
    expect(s.cluster.id).toBe('demo');
    expect(s.hosts.map((h) => h.id)).toEqual(['demo-esx-01', 'demo-esx-02', 'demo-esx-03', 'demo-esx-04', 'demo-esx-05', 'demo-esx-06', 'demo-esx-07', 'demo-esx-08']);
    expect(s.vms).toHaveLength(150);
    expect(s.vms[0].id).toBe('demo-vm-001');
    expect(s.hosts.every((h) => h.networks.length > 0 && h.datastores.length > 0)).toBe(true);
    expect(s.rules.length).toBeGreaterThanOrEqual(3);
    const off = s.vms.filter((v) => v.powerState === 'off').length;
    expect(off).toBeGreaterThanOrEqual(1);
    expect(off).toBeLessThanOrEqual(2);
    expect(referenceImbalance(s)).toBeGreaterThan(0.1);
  });
});
