import { describe, expect, it } from '@jest/globals';
import { host, snapshot, vm } from '../../test/support/builders.js';
import { applyMoves, checkMoves } from './check-moves.js';
import { plan } from './plan.js';
import type { Move } from './snapshot.js';

const s = snapshot({
  hosts: [host('h1'), host('h2', { memoryCapacityMb: 40_000 }), host('h3', { state: 'maintenance' })],
  vms: [vm('a', 'h1'), vm('b', 'h1'), vm('c', 'h2', { memoryMb: 20_000 }), vm('d', 'h1', { automationLevel: 'disabled' }), vm('e', 'h1', { automationLevel: 'manual' })],
  rules: [
    { id: 'apart', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['a', 'c'] },
    { id: 'together', kind: 'vm-affinity', mode: 'must', vmIds: ['a', 'b'] },
  ],
});
const move = (vmId: string, fromHostId: string, toHostId: string): Move => ({ vmId, fromHostId, toHostId, priority: 3, reason: 'balance' });

describe('checkMoves', () => {
  it('accepts the moves of a plan', () => {
    const p = plan(s, { threshold: 5 });
    expect(checkMoves(s, p.plan.moves)).toEqual({ valid: true, problems: [] });
  });

  it.each([
    { name: 'an unknown VM', moves: [move('zz', 'h1', 'h2')], problem: { index: 0, vmId: 'zz', plugin: 'snapshot' } },
    { name: 'an unknown host', moves: [move('b', 'h1', 'h9')], problem: { index: 0, plugin: 'snapshot' } },
    { name: 'a wrong source', moves: [move('b', 'h2', 'h1')], problem: { index: 0, plugin: 'sequence', reason: 'the VM is on h1 at this point, not h2' } },
    { name: 'a host in maintenance', moves: [move('e', 'h1', 'h3')], problem: { index: 0, plugin: 'host-state' } },
    { name: 'a full host', moves: [move('e', 'h1', 'h2'), move('b', 'h1', 'h2')], problem: { index: 1, vmId: 'b', plugin: 'memory-capacity' } },
    { name: 'a disabled VM', moves: [move('d', 'h1', 'h2')], problem: { index: 0, plugin: 'automation-level' } },
    { name: 'an anti-affinity peer', moves: [move('c', 'h2', 'h1')], problem: { index: 0, plugin: 'must-rules' } },
    { name: 'a split affinity group (judged after the last move)', moves: [move('b', 'h1', 'h2')], problem: { index: 0, vmId: 'b', plugin: 'must-affinity' } },
  ])('flags $name', ({ moves, problem }) => {
    const check = checkMoves(s, moves);
    expect(check.valid).toBe(false);
    expect(check.problems).toContainEqual(expect.objectContaining(problem));
  });

  it('lets an operator move a manual VM, and a group back together', () => {
    expect(checkMoves(s, [move('e', 'h1', 'h2')]).valid).toBe(true);
    const away = applyMoves(s, [move('b', 'h1', 'h2')]);
    expect(checkMoves(away, [move('b', 'h2', 'h1')]).valid).toBe(true);
  });

  it('checks each move against the state the earlier ones leave', () => {
    // c leaves h2 first, then b (16 GB) fits where c (20 GB) was.
    const moves = [move('c', 'h2', 'h1'), move('b', 'h1', 'h2')];
    const check = checkMoves({ ...s, rules: [] }, moves);
    expect(check).toEqual({ valid: true, problems: [] });
  });
});

describe('applyMoves', () => {
  it('returns the snapshot with the moves applied, leaving the input alone', () => {
    const after = applyMoves(s, [move('a', 'h1', 'h2'), move('a', 'h2', 'h1'), move('b', 'h1', 'h2')]);
    expect(after.vms.find((v) => v.id === 'b')?.hostId).toBe('h2');
    expect(after.vms.find((v) => v.id === 'a')?.hostId).toBe('h1');
    expect(s.vms.find((v) => v.id === 'b')?.hostId).toBe('h1');
  });

  it('rejects unknown VMs and hosts', () => {
    expect(() => applyMoves(s, [move('zz', 'h1', 'h2')])).toThrow('unknown VM "zz"');
    expect(() => applyMoves(s, [move('a', 'h1', 'h9')])).toThrow('unknown host "h9"');
  });
});
