import { Redis } from 'ioredis';
import { redactUrl } from '../config/config.js';
import { ensureDatabase } from '../database/ensure-database.js';

/** A service Ballast needs does not answer; the message is the one line an operator sees. */
export class UnreachableServiceError extends Error {}

const HOW_TO_START = 'start PostgreSQL and Redis with "docker compose up -d postgres redis", or set DATABASE_URL and REDIS_URL';

function describe(error: unknown): string {
  const e = error as { code?: string; message?: string; errors?: { message: string }[] };
  return e.code ?? e.errors?.[0]?.message ?? e.message ?? String(error);
}

/** Creates the database if missing; fails with one readable line when PostgreSQL does not answer. */
export async function preparePostgres(databaseUrl: string): Promise<void> {
  try {
    await ensureDatabase(databaseUrl);
  } catch (error) {
    throw new UnreachableServiceError(
      `cannot reach PostgreSQL at ${redactUrl(databaseUrl)} (${describe(error)}): ${HOW_TO_START}`,
    );
  }
}

/** Fails with one readable line when Redis does not answer, or would evict queue data. */
export async function checkRedis(redisUrl: string): Promise<void> {
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new UnreachableServiceError(`cannot reach Redis at ${redactUrl(redisUrl)} (${describe(error)}): ${HOW_TO_START}`);
  } finally {
    redis.disconnect();
  }
}
