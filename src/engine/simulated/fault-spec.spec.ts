import { ConfigError } from '../../config/config-error.js';
import { failsByRate, NO_FAULTS, parseFaultSpec } from './fault-spec.js';

describe('parseFaultSpec', () => {
  it('reads every kind of clause, with spaces around them', () => {
    const spec = parseFaultSpec(' vm:vm-00012, target:esx-003 ,transient:vm-00013:2, rate:0.1, nonconverge:vm-x,vm:vm-00014');
    expect([...spec.failingVms]).toEqual(['vm-00012', 'vm-00014']);
    expect([...spec.refusingTargets]).toEqual(['esx-003']);
    expect([...spec.transientVms]).toEqual([['vm-00013', 2]]);
    expect(spec.failureRate).toBe(0.1);
    expect([...spec.nonConvergingVms]).toEqual(['vm-x']);
  });

  it('reads an empty setting as no faults', () => {
    expect(parseFaultSpec('')).toBe(NO_FAULTS);
    expect(parseFaultSpec('   ')).toBe(NO_FAULTS);
  });

  it('keeps colons inside ids, taking the attempt count after the last one', () => {
    expect([...parseFaultSpec('transient:ns:vm-1:3').transientVms]).toEqual([['ns:vm-1', 3]]);
    expect([...parseFaultSpec('vm:ns:vm-1').failingVms]).toEqual(['ns:vm-1']);
  });

  it.each([
    ['vm:a,explode:b', /bad part "explode:b": unknown kind "explode"/],
    ['vm:a,,vm:b', /bad part "": empty clause/],
    ['vm:a,', /empty clause/],
    ['vm:', /bad part "vm:": "vm" needs a VM id/],
    ['target', /bad part "target": "target" needs a host id/],
    ['rate:1.5', /bad part "rate:1.5": expected rate:P with P a number between 0 and 1/],
    ['rate:-0.1', /expected rate:P/],
    ['rate:lots', /expected rate:P/],
    ['rate:0.1,rate:0.2', /bad part "rate:0.2": rate is already given/],
    ['transient:vm-1', /bad part "transient:vm-1": expected transient:VM:N/],
    ['transient:vm-1:two', /expected transient:VM:N/],
    ['transient:vm-1:1,transient:vm-1:2', /VM "vm-1" is already given/],
  ])('refuses %j naming the bad part', (raw, message) => {
    expect(() => parseFaultSpec(raw)).toThrow(ConfigError);
    expect(() => parseFaultSpec(raw)).toThrow(message);
  });

  it('names the setting it parses', () => {
    expect(() => parseFaultSpec('nope', 'MY_FAULTS')).toThrow(/^MY_FAULTS: bad part "nope"/);
  });
});

describe('failsByRate', () => {
  it('picks the same migrations every time, in about the share asked', () => {
    const ids = Array.from({ length: 10_000 }, (_, i) => `mig-${i}`);
    const picked = ids.filter((id) => failsByRate(id, 0.1));
    expect(picked.length).toBeGreaterThan(900);
    expect(picked.length).toBeLessThan(1100);
    expect(ids.filter((id) => failsByRate(id, 0.1))).toEqual(picked);
    expect(ids.some((id) => failsByRate(id, 0))).toBe(false);
    expect(ids.every((id) => failsByRate(id, 1))).toBe(true);
  });
});
