import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { loadConfig, type BallastConfig } from '../../src/config/config.js';
import { migrate } from '../../src/database/data-source.js';
import { dropDatabase, ensureDatabase } from '../../src/database/ensure-database.js';
import { deleteKeysUnder } from '../../src/redis/delete-keys.js';

/** A throwaway database (migrated) and Redis prefix for one benchmark run, from the usual settings. */
export async function benchEnvironment(overrides: Record<string, string> = {}): Promise<{
  config: BallastConfig;
  env: Record<string, string>;
  cleanup(): Promise<void>;
}> {
  const base = loadConfig();
  const id = randomUUID().replace(/-/g, '').slice(0, 12);
  const url = new URL(base.DATABASE_URL);
  url.pathname = `/ballast_bench_${id}`;
  const env = {
    DATABASE_URL: url.toString(),
    REDIS_URL: base.REDIS_URL,
    REDIS_PREFIX: `ballast-bench-${id}`,
    BALLAST_DEMO: 'false',
    ...overrides,
  };
  await ensureDatabase(env.DATABASE_URL);
  await migrate(env.DATABASE_URL);
  return {
    config: loadConfig(env),
    env,
    async cleanup() {
      await dropDatabase(env.DATABASE_URL);
      await deleteKeysUnder(env.REDIS_URL, env.REDIS_PREFIX);
    },
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
