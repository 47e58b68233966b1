import { host, snapshot, vm } from '../../test/support/builders.js';
import { planReturn } from './return-plan.js';

describe('planReturn', () => {
  it('brings back the VMs still where the operation put them, and says why the others stay', () => {
    const s = snapshot({
      hosts: [host('h1'), host('h2'), host('h3')],
      vms: [vm('a', 'h2'), vm('b', 'h3'), vm('c', 'h2')],
    });
    const result = planReturn(s, 'h1', [
      { vmId: 'a', targetHostId: 'h2' },
      { vmId: 'b', targetHostId: 'h2' },
      { vmId: 'gone', targetHostId: 'h2' },
    ]);
    expect(result.moves).toEqual([{ vmId: 'a', fromHostId: 'h2', toHostId: 'h1', priority: 2, reason: 'balance' }]);
    expect(result.notReturned).toEqual([
      { vmId: 'b', reason: 'the VM moved on to h3 since' },
      { vmId: 'gone', reason: 'the VM no longer exists' },
    ]);
  });

  it('checks each move against what the moves before it leave: a host that fills up takes no more', () => {
    const s = snapshot({
      hosts: [host('h1', { memoryCapacityMb: 40_000 }), host('h2')],
      vms: [vm('a', 'h2'), vm('b', 'h2'), vm('c', 'h2')],
    });
    const result = planReturn(s, 'h1', ['a', 'b', 'c'].map((vmId) => ({ vmId, targetHostId: 'h2' })));
    expect(result.moves.map((m) => m.vmId)).toEqual(['a', 'b']);
    expect(result.notReturned).toHaveLength(1);
    expect(result.notReturned[0].vmId).toBe('c');
    expect(result.notReturned[0].reason).toBe('h1 has 7232 MB free, the VM needs 16384 MB');
  });
});
