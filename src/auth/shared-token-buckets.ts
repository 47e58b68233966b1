import type { Redis } from 'ioredis';
import { TokenBuckets } from './token-buckets.js';

/**
 * One bucket in Redis, as GCRA keeps it: the time (Redis's own clock, the same for every process)
 * at which the bucket is full again. A bucket holds `window / interval` tokens and regains one every
 * `interval` ms. take: one token, or the ms until there is one (nothing taken); spend: one token even
 * when none is left, then the ms until there is one; peek: the ms until there is one.
 */
const BUCKET_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local full = tonumber(redis.call('GET', KEYS[1]) or '0')
if full < now then full = now end
local wait = full + interval - now - window
if ARGV[3] == 'peek' then
  if wait > 0 then return wait end
  return 0
end
if ARGV[3] == 'take' then
  if wait > 0 then return wait end
  full = full + interval
  redis.call('SET', KEYS[1], full, 'PX', math.max(1, full - now))
  return 0
end
full = math.min(full + interval, now + window)
redis.call('SET', KEYS[1], full, 'PX', math.max(1, full - now))
wait = full + interval - now - window
if wait > 0 then return wait end
return 0`;

const WINDOW_MS = 60_000;
/** A limit must not make the API wait on a Redis that does not answer. */
const REDIS_TIMEOUT_MS = 250;

/**
 * Token buckets by name shared by every API process through Redis (the same semantics as
 * TokenBuckets: `perMinute` tokens, regained at `perMinute` a minute), so a caller spread over
 * several processes gets one allowance, not one per process. While Redis does not answer within
 * 250 ms, this process's own buckets count instead: the API still answers, and still limits.
 */
export class SharedTokenBuckets {
  private readonly local: TokenBuckets;
  private readonly intervalMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    readonly perMinute: number,
    private readonly onRedisFailure: (error: Error) => void,
  ) {
    this.local = new TokenBuckets(perMinute);
    this.intervalMs = perMinute > 0 ? WINDOW_MS / perMinute : 0;
  }

  get enabled(): boolean {
    return this.perMinute > 0;
  }

  /** Seconds until `name` has a token (0: it has one now); takes nothing. */
  async secondsUntilToken(name: string): Promise<number> {
    if (!this.enabled) return 0;
    return this.run(name, 'peek', () => this.local.secondsUntilToken(name));
  }

  /** Takes a token of `name`: 0 when there was one, else the seconds until there is (nothing taken). */
  async take(name: string): Promise<number> {
    if (!this.enabled) return 0;
    return this.run(name, 'take', () => this.local.take(name));
  }

  /** Takes a token of `name` even when it has none left (a failure that happened anyway); then the seconds until it has one. */
  async spend(name: string): Promise<number> {
    if (!this.enabled) return 0;
    return this.run(name, 'spend', () => {
      this.local.spend(name);
      return this.local.secondsUntilToken(name);
    });
  }

  private async run(name: string, mode: 'take' | 'spend' | 'peek', locally: () => number): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Redis did not answer within ${REDIS_TIMEOUT_MS} ms`)), REDIS_TIMEOUT_MS);
      });
      const ms = Number(await Promise.race([this.redis.eval(BUCKET_SCRIPT, 1, `${this.keyPrefix}:${name}`, this.intervalMs, WINDOW_MS, mode), timeout]));
      return ms > 0 ? Math.max(1, Math.ceil(ms / 1000)) : 0;
    } catch (error) {
      this.onRedisFailure(error as Error);
      return locally();
    } finally {
      clearTimeout(timer);
    }
  }
}
