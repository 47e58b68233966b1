import type { Redis } from 'ioredis';

/**
 * Runs a Redis command for a caller that must not wait on Redis (an HTTP answer): undefined when
 * the connection is not up, or when no answer came within `ms`. The shared connection queues
 * commands while Redis is away and retries them without end, so without this a request would hang
 * until Redis came back. A command given up on may still run later, once Redis answers.
 */
export async function unlessRedisIsAway<T>(redis: Redis, ms: number, command: () => Promise<T>): Promise<T | undefined> {
  if (redis.status !== 'ready') return undefined;
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([command(), gaveUp]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
