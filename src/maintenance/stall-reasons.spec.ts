import { stallReasons } from './stall-reasons.js';

describe('stallReasons', () => {
  it('names the failures, the last error and why no other host takes the VM', () => {
    const reasons = stallReasons(['a', 'b', 'c'], {
      attempts: new Map([
        ['a', ['h2', 'h3']],
        ['b', ['h2']],
      ]),
      lastError: new Map([
        ['a', 'target refused'],
        ['b', 'guest did not converge'],
      ]),
      unfit: new Map([['b', 'no host has 64 GB free']]),
    });
    expect(reasons).toEqual([
      { vmId: 'a', reason: '2 migrations failed, the last: target refused' },
      { vmId: 'b', reason: '1 migration failed, the last: guest did not converge; no other host takes it: no host has 64 GB free' },
      { vmId: 'c', reason: 'no migration could be planned for it' },
    ]);
  });
});
