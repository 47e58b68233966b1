import { describe, expect, it } from '@jest/globals';
import { host, snapshot, vm, vmsOn } from '../../test/support/builders.js';
import { planRestarts } from './ha-restart.js';
import { plan } from '../planner/plan.js';
import { hostFailures, type HostHearing } from './host-failure.js';

const T0 = Date.parse('2026-12-07T10:00:00Z');
const S = 1000;

describe('failed-host detection', () => {
  const hearing = (hostId: string, lastHeardAt: number | null, over: Partial<HostHearing> = {}): HostHearing => ({
    hostId,
    state: 'connected',
    lastHeardAt,
    failedSince: null,
    ...over,
  });

  it('a host silent for the grace period is failed while the source answers for others', () => {
    const hosts = [hearing('h1', T0 - 61 * S), hearing('h2', T0 - 5 * S), hearing('h3', T0 - 59 * S)];
    const found = hostFailures(hosts, 60 * S, T0);
    expect(found.failed).toEqual([{ hostId: 'h1', lastHeardAt: T0 - 61 * S }]);
    expect(hostFailures(hosts, 60 * S, T0 - 2 * S).failed).toEqual([]);
  });

  it('never-heard hosts, hosts in maintenance and a silent source are no failure', () => {
    const silent = [hearing('h1', T0 - 300 * S), hearing('h2', T0 - 300 * S)];
    expect(hostFailures(silent, 60 * S, T0)).toMatchObject({ failed: [], sourceAnswering: false });
    const others = [hearing('h1', null), hearing('h2', T0 - 300 * S, { state: 'maintenance' }), hearing('h3', T0 - 300 * S, { state: 'quarantine' }), hearing('h4', T0)];
    expect(hostFailures(others, 60 * S, T0).failed.map((f) => f.hostId)).toEqual(['h3']);
  });

  it('a failed host has returned only when heard after its failure began', () => {
    const failedSince = T0 - 120 * S;
    const before = [hearing('h1', T0 - 200 * S, { state: 'failed', failedSince }), hearing('h2', T0)];
    expect(hostFailures(before, 60 * S, T0).returned).toEqual([]);
    const back = [hearing('h1', T0 - S, { state: 'failed', failedSince }), hearing('h2', T0)];
    expect(hostFailures(back, 60 * S, T0).returned).toEqual([{ hostId: 'h1', lastHeardAt: T0 - S }]);
    // Failed by an operator (no incident): not returned by a sample.
    expect(hostFailures([hearing('h1', T0, { state: 'failed' })], 60 * S, T0).returned).toEqual([]);
  });
});

describe('HA restart placement', () => {
  /** h2 and h3 have room for one 16 GB VM each (64 GB hosts, 3 VMs each); h1 failed with four VMs. */
  function failedCluster() {
    return snapshot({
      hosts: [host('h1', { state: 'failed', memoryCapacityMb: 65_536 }), host('h2', { memoryCapacityMb: 65_536 }), host('h3', { memoryCapacityMb: 65_536 })],
      vms: [
        vm('lo', 'h1', { restartPriority: 'low' }),
        vm('med', 'h1'),
        vm('hi', 'h1', { restartPriority: 'high', automationLevel: 'disabled' }),
        vm('never', 'h1', { restartPriority: 'disabled' }),
        ...vmsOn('h2', 3, 'b'),
        ...vmsOn('h3', 3, 'c'),
      ],
      rules: [{ id: 'apart', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['hi', 'b-1'] }],
    });
  }

  it('restarts by priority into the room there is, keeping must rules; disabled and what does not fit stay down', () => {
    const result = planRestarts(failedCluster(), new Set(['lo', 'med', 'hi', 'never']));
    expect(result.restarts).toEqual([
      { vmId: 'hi', fromHostId: 'h1', toHostId: 'h3', restartPriority: 'high' },
      { vmId: 'med', fromHostId: 'h1', toHostId: 'h2', restartPriority: 'medium' },
    ]);
    expect(result.unplaced.map((u) => u.vmId).sort()).toEqual(['lo', 'never']);
    expect(result.unplaced.find((u) => u.vmId === 'never')?.reason).toMatch(/disabled/);
    expect(result.unplaced.find((u) => u.vmId === 'lo')?.reason).toMatch(/16384 MB free/);
  });

  it('no plan live-migrates a VM off a failed host (only HA restarts its VMs), and the rule left broken says why', () => {
    // hi and lo must stay apart but share the failed h1: a repair would live-migrate one of them off it.
    const broken = { ...failedCluster(), rules: [{ id: 'apart', kind: 'vm-anti-affinity' as const, mode: 'must' as const, vmIds: ['hi', 'lo'] }] };
    const result = plan(broken);
    expect(result.plan.moves.filter((m) => m.fromHostId === 'h1')).toEqual([]);
    expect(JSON.stringify(result.plan.unresolved)).toMatch(/h1 failed/);
    // The same cluster with h1 connected: the repair moves one of them off it.
    const alive = { ...broken, hosts: broken.hosts.map((h) => (h.id === 'h1' ? { ...h, state: 'connected' as const } : h)) };
    expect(plan(alive).plan.moves.filter((m) => m.fromHostId === 'h1').length).toBeGreaterThan(0);
  });

  it('only the VMs asked for, and only off failed hosts', () => {
    const result = planRestarts(failedCluster(), new Set(['lo', 'b-2']));
    expect(result.restarts).toEqual([{ vmId: 'lo', fromHostId: 'h1', toHostId: expect.stringMatching(/^h[23]$/), restartPriority: 'low' }]);
    expect(result.unplaced).toEqual([]);
  });
});
