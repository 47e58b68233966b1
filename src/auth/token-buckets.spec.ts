import { addressBucketName, TokenBuckets } from './token-buckets.js';

describe('TokenBuckets', () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => {
    now = 1_000_000;
  });

  it('lets a name burst to its limit, then one more each 60/limit seconds', () => {
    const buckets = new TokenBuckets(6, clock);
    for (let i = 0; i < 6; i++) expect(buckets.take('a')).toBe(0);
    expect(buckets.take('a')).toBe(10);
    expect(buckets.take('b')).toBe(0);
    now += 4_000;
    expect(buckets.take('a')).toBe(6);
    now += 6_000;
    expect(buckets.take('a')).toBe(0);
    expect(buckets.take('a')).toBe(10);
    now += 3_600_000;
    for (let i = 0; i < 6; i++) expect(buckets.take('a')).toBe(0);
    expect(buckets.take('a')).toBeGreaterThan(0);
  });

  it('spends past empty without going below nothing, and says when a token is back without taking it', () => {
    const buckets = new TokenBuckets(2, clock);
    expect(buckets.secondsUntilToken('x')).toBe(0);
    for (let i = 0; i < 5; i++) buckets.spend('x');
    expect(buckets.secondsUntilToken('x')).toBe(30);
    now += 29_000;
    expect(buckets.secondsUntilToken('x')).toBe(1);
    now += 1_000;
    expect(buckets.secondsUntilToken('x')).toBe(0);
    expect(buckets.secondsUntilToken('x')).toBe(0);
  });

  it('is off at 0', () => {
    const buckets = new TokenBuckets(0, clock);
    for (let i = 0; i < 1000; i++) {
      buckets.spend('a');
      expect(buckets.take('a')).toBe(0);
    }
    expect(buckets.size).toBe(0);
  });

  it('keeps at most maxNames names, dropping full buckets and then the least recently used', () => {
    const buckets = new TokenBuckets(1, clock, 100);
    for (let i = 0; i < 1000; i++) buckets.take(`caller ${i}`);
    expect(buckets.size).toBeLessThanOrEqual(100);
    // The most recent callers are still held to their limit.
    expect(buckets.take('caller 999')).toBeGreaterThan(0);
  });
});

describe('addressBucketName', () => {
  it('names IPv4 as is (also when mapped into IPv6) and IPv6 by its /64', () => {
    expect(addressBucketName('203.0.113.7')).toBe('203.0.113.7');
    expect(addressBucketName('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressBucketName('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressBucketName('2001:0db8:0000:0000:ffff::2')).toBe('2001:db8:0:0::/64');
    expect(addressBucketName('2001:db8:0:1::1')).toBe('2001:db8:0:1::/64');
    expect(addressBucketName('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressBucketName('::1')).toBe('0:0:0:0::/64');
    expect(addressBucketName(undefined)).toBe('unknown');
  });
});
