import { describe, expect, it } from '@jest/globals';
import { host, snapshot, vm } from '../../test/support/builders.js';
import type { Move } from '../planner/snapshot.js';
import { approvableMoves } from './approvable-moves.js';

const move = (vmId: string, fromHostId: string, toHostId: string): Move => ({ vmId, fromHostId, toHostId, priority: 3, reason: 'balance' });

// h2 holds 40 GB: c (20 GB) leaving it makes room for b and e (16 GB each) together.
const s = snapshot({
  hosts: [host('h1'), host('h2', { memoryCapacityMb: 40_000 }), host('h3', { state: 'maintenance' })],
  vms: [vm('a', 'h1'), vm('b', 'h1'), vm('c', 'h2', { memoryMb: 20_000 }), vm('e', 'h1')],
});
const moves = [move('c', 'h2', 'h1'), move('b', 'h1', 'h2'), move('e', 'h1', 'h2'), move('a', 'h1', 'h3')];

describe('approvableMoves', () => {
  it('accepts valid moves in plan order, refuses the others with the filter that said no', () => {
    const result = approvableMoves(moves, [3, 1, 0], [], new Map(), s);
    expect(result.accepted).toEqual([0, 1]);
    expect(result.refused).toEqual([{ index: 3, vmId: 'a', plugin: 'host-state', reason: 'h3 is maintenance' }]);
    expect(result.alreadyApproved).toEqual([]);
  });

  it('does not approve a move twice, and a move of a migrating VM waits for its migration', () => {
    const result = approvableMoves(moves, [0, 1, 2], [0], new Map([['b', 'm-1']]), s);
    expect(result.alreadyApproved).toEqual([0]);
    expect(result.refused).toEqual([expect.objectContaining({ index: 1, plugin: 'in-flight', reason: expect.stringContaining('migration m-1') })]);
    // The cluster given is as the earlier approval leaves it: c on h1 already.
    expect(approvableMoves(moves, [2], [0], new Map(), { ...s, vms: s.vms.map((v) => (v.id === 'c' ? { ...v, hostId: 'h1' } : v)) }).accepted).toEqual([2]);
  });

  it('leaves out a move that needed the room a refused one would have made', () => {
    // Without c leaving, only one of b and e fits on h2.
    const stuck = { ...s, vms: s.vms.map((v) => (v.id === 'c' ? { ...v, automationLevel: 'disabled' as const } : v)) };
    const result = approvableMoves(moves, [0, 1, 2], [], new Map(), stuck);
    expect(result.accepted).toEqual([1]);
    expect(result.refused.map((r) => [r.index, r.plugin])).toEqual([
      [0, 'automation-level'],
      [2, 'memory-capacity'],
    ]);
  });
});
