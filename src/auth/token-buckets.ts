/**
 * Token buckets by name, in this process's memory: each holds up to `perMinute` tokens and gains
 * `perMinute` a minute, so a name may burst to `perMinute` and then go on at that pace. The rate
 * limits count in Redis (SharedTokenBuckets) and fall back to these while Redis does not answer.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly perMs: number;

  /**
   * @param perMinute 0 turns the buckets off (every name always has a token)
   * @param maxNames beyond this many names, the full buckets (which are as good as none) and then
   *   the oldest are dropped, so that callers with ever new names cannot grow the map without end
   */
  constructor(
    readonly perMinute: number,
    private readonly now: () => number = Date.now,
    private readonly maxNames = 100_000,
  ) {
    this.perMs = perMinute / 60_000;
  }

  get enabled(): boolean {
    return this.perMinute > 0;
  }

  /** Seconds until `name` has a token (0: it has one now); takes nothing. */
  secondsUntilToken(name: string): number {
    if (!this.enabled) return 0;
    const tokens = this.tokensOf(name, this.now());
    return tokens >= 1 ? 0 : this.secondsFor(1 - tokens);
  }

  /** Takes a token of `name`: 0 when there was one, else the seconds until there is (nothing taken). */
  take(name: string): number {
    if (!this.enabled) return 0;
    const now = this.now();
    const tokens = this.tokensOf(name, now);
    if (tokens < 1) return this.secondsFor(1 - tokens);
    this.store(name, tokens - 1, now);
    return 0;
  }

  /** Takes a token of `name` even when it has none left (a failure that happened anyway). */
  spend(name: string): void {
    if (!this.enabled) return;
    const now = this.now();
    this.store(name, Math.max(0, this.tokensOf(name, now) - 1), now);
  }

  get size(): number {
    return this.buckets.size;
  }

  private tokensOf(name: string, now: number): number {
    const bucket = this.buckets.get(name);
    if (!bucket) return this.perMinute;
    return Math.min(this.perMinute, bucket.tokens + Math.max(0, now - bucket.at) * this.perMs);
  }

  private store(name: string, tokens: number, now: number): void {
    this.buckets.delete(name);
    this.buckets.set(name, { tokens, at: now });
    if (this.buckets.size > this.maxNames) this.prune(now);
  }

  private secondsFor(tokens: number): number {
    return Math.max(1, Math.ceil(tokens / this.perMs / 1000));
  }

  private prune(now: number): void {
    for (const [name] of this.buckets) {
      if (this.tokensOf(name, now) >= this.perMinute) this.buckets.delete(name);
    }
    // Map order is the order of last use (store() re-inserts): the oldest go first.
    const excess = this.buckets.size - Math.floor(this.maxNames * 0.9);
    if (excess <= 0) return;
    let dropped = 0;
    for (const [name] of this.buckets) {
      if (dropped++ >= excess) break;
      this.buckets.delete(name);
    }
  }
}

/**
 * The name a client address is limited under: IPv4 (also as ::ffff:a.b.c.d) as is, IPv6 by its /64,
 * the block one site or machine is given (one host may otherwise pick among 2^64 addresses).
 */
export function addressBucketName(address: string | undefined): string {
  if (!address) return 'unknown';
  const plain = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(plain);
  if (mapped) return mapped[1];
  if (!plain.includes(':')) return plain;
  const [head, tail] = plain.split('::');
  const front = head ? head.split(':') : [];
  const back = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  return `${groups
    .slice(0, 4)
    .map((group) => (/^[0-9a-f]{1,4}$/i.test(group) ? parseInt(group, 16).toString(16) : group))
    .join(':')}::/64`;
}
