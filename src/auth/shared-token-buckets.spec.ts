import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { deleteKeysUnder } from '../redis/delete-keys.js';
import { createRedis } from '../redis/redis.module.js';
import { SharedTokenBuckets } from './shared-token-buckets.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `ballast-test-${randomUUID().slice(0, 8)}`;

describe('SharedTokenBuckets (the real Redis)', () => {
  const redis = createRedis(REDIS_URL);
  const failures: string[] = [];
  // Two API processes: two clients, one set of buckets.
  const first = new SharedTokenBuckets(redis, `${prefix}:requests`, 6, (e) => failures.push(e.message));
  const other = createRedis(REDIS_URL);
  const second = new SharedTokenBuckets(other, `${prefix}:requests`, 6, (e) => failures.push(e.message));

  afterAll(async () => {
    await deleteKeysUnder(REDIS_URL, prefix);
    await Promise.all([redis.quit(), other.quit()]);
  });

  it('lets a name burst to its limit across processes, then refuses with the seconds until a token (10 s at 6 a minute)', async () => {
    const taken = [];
    for (let i = 0; i < 6; i++) taken.push(await (i % 2 === 0 ? first : second).take('key a'));
    expect(taken).toEqual([0, 0, 0, 0, 0, 0]);
    const wait = await second.take('key a');
    expect(wait).toBeGreaterThanOrEqual(9);
    expect(wait).toBeLessThanOrEqual(10);
    expect(await first.secondsUntilToken('key a')).toBe(wait);
    // Another name has its own bucket.
    expect(await first.take('key b')).toBe(0);
    expect(failures).toEqual([]);
  });

  it('spend takes a token even when none is left, but leaves no debt: the next token comes after one interval', async () => {
    const spent = [];
    for (let i = 0; i < 20; i++) spent.push(await first.spend('address 10.0.0.1'));
    // The first five leave a token; the sixth spends the last one.
    expect(spent.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(spent[5]).toBeGreaterThan(0);
    const wait = await second.secondsUntilToken('address 10.0.0.1');
    expect(spent[19]).toBe(wait);
    expect(wait).toBeGreaterThanOrEqual(9);
    expect(wait).toBeLessThanOrEqual(10);
    expect(await second.take('address 10.0.0.1')).toBe(wait);
  });

  it('is off at 0 a minute', async () => {
    const off = new SharedTokenBuckets(redis, `${prefix}:off`, 0, (e) => failures.push(e.message));
    for (let i = 0; i < 5; i++) expect(await off.take('x')).toBe(0);
    expect(await redis.keys(`${prefix}:off*`)).toEqual([]);
  });

  it('counts in this process when Redis does not answer, and says so', async () => {
    // Nothing listens on port 1: commands wait for a connection that never comes.
    const gone = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: null, retryStrategy: () => 1000 });
    gone.on('error', () => undefined);
    const seen: string[] = [];
    const local = new SharedTokenBuckets(gone, `${prefix}:gone`, 2, (e) => seen.push(e.message));
    try {
      expect(await local.take('key c')).toBe(0);
      expect(await local.take('key c')).toBe(0);
      expect(await local.take('key c')).toBeGreaterThan(0);
      expect(seen).toHaveLength(3);
      expect(seen[0]).toMatch(/Redis did not answer within \d+ ms/);
    } finally {
      gone.disconnect();
    }
  });
});
