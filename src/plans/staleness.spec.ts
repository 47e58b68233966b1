import { describe, expect, it } from '@jest/globals';
import type { Move, Snapshot } from '../planner/snapshot.js';
import { stalenessReason } from './staleness.js';

const snapshot = (hosts: [string, string][], vms: [string, string][]): Snapshot =>
  ({
    version: 1,
    cluster: { id: 'c', name: 'c' },
    policy: { automationLevel: 'manual', migrationThreshold: 3, resourceWeights: { cpu: 1, memory: 1 }, maxMovesPerRun: 10, memoryOvercommitRatio: 1 },
    hosts: hosts.map(([id, state]) => ({ id, state, cpuCapacityMhz: 1, memoryCapacityMb: 1, networks: [], datastores: [] })),
    vms: vms.map(([id, hostId]) => ({ id, hostId, vcpus: 1, memoryMb: 1, cpuDemandMhz: 0, memoryActiveMb: 0, powerState: 'on', networks: [], datastores: [] })),
    rules: [],
  }) as Snapshot;

const move = (vmId: string, fromHostId: string, toHostId: string): Move => ({ vmId, fromHostId, toHostId, priority: 3, reason: 'balance' });
const planned = {
  hostStates: { h1: 'connected', h2: 'connected' } as const,
  moves: [move('a', 'h1', 'h2'), move('b', 'h1', 'h2'), move('a', 'h2', 'h1')],
};

describe('stale plans', () => {
  it('accepts a plan whose hosts and VMs are as planned', () => {
    expect(stalenessReason(planned, snapshot([['h1', 'connected'], ['h2', 'connected']], [['a', 'h1'], ['b', 'h1']]), [0, 1, 2])).toBeNull();
  });

  it('names a host that changed state', () => {
    const now = snapshot([['h1', 'connected'], ['h2', 'entering-maintenance']], [['a', 'h1'], ['b', 'h1']]);
    expect(stalenessReason(planned, now, [0])).toBe('host h2 is entering-maintenance now; it was connected when the plan was made');
  });

  it('names a host that is gone', () => {
    expect(stalenessReason(planned, snapshot([['h1', 'connected']], [['a', 'h1']]), [0])).toBe('host h2 no longer exists');
  });

  it('names a VM that already moved, checking only the chosen moves', () => {
    const now = snapshot([['h1', 'connected'], ['h2', 'connected']], [['a', 'h1'], ['b', 'h2']]);
    expect(stalenessReason(planned, now, [0])).toBeNull();
    expect(stalenessReason(planned, now, [0, 1])).toBe('VM b is on h2 now; the plan moves it from h1');
  });

  it('checks only the first move of a VM against where it is', () => {
    const now = snapshot([['h1', 'connected'], ['h2', 'connected']], [['a', 'h1'], ['b', 'h1']]);
    expect(stalenessReason(planned, now, [2])).toBe('VM a is on h1 now; the plan moves it from h2');
  });

  it('names a VM that is gone', () => {
    expect(stalenessReason(planned, snapshot([['h1', 'connected'], ['h2', 'connected']], [['a', 'h1']]), [1])).toBe('VM b no longer exists');
  });
});
