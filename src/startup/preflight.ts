import { Redis } from 'ioredis';
import { redactUrl } from '../config/config.js';
import { ensureDatabase } from '../database/ensure-database.js';

/** A service Ballast needs does not answer; the message is the one line an operator sees. */
export class UnreachableServiceError extends Error {}

const HOW_TO_START = 'start PostgreSQL and Redis with "docker compose up -d postgres redis", or set DATABASE_URL and REDIS_URL';
const COMPOSE_DATABASE_URL = 'postgres://ballast:ballast@127.0.0.1:5432/ballast';
/** invalid_password, invalid_authorization_specification (an unknown role, a pg_hba.conf refusal). */
const PG_AUTHENTICATION_FAILED = new Set(['28P01', '28000']);

function describe(error: unknown): string {
  const e = error as { code?: string; message?: string; errors?: { message: string }[] };
  return e.code ?? e.errors?.[0]?.message ?? e.message ?? String(error);
}

/** Creates the database if missing; fails with one readable line when PostgreSQL does not answer or refuses the user. */
export async function preparePostgres(databaseUrl: string): Promise<void> {
  try {
    await ensureDatabase(databaseUrl);
  } catch (error) {
    if (PG_AUTHENTICATION_FAILED.has((error as { code?: string }).code ?? '')) {
      throw new UnreachableServiceError(
        `PostgreSQL at ${redactUrl(databaseUrl)} answered, but authentication failed (${(error as Error).message}): ` +
          `set DATABASE_URL to a user and password it accepts (the compose file's: ${COMPOSE_DATABASE_URL})`,
      );
    }
    throw new UnreachableServiceError(
      `cannot reach PostgreSQL at ${redactUrl(databaseUrl)} (${describe(error)}): ${HOW_TO_START}`,
    );
  }
}

/**
 * Fails with one readable line when Redis does not answer. Returns a warning when Redis may evict
 * keys (the queue's jobs would vanish; PostgreSQL stays the truth and the scheduler puts them back,
 * but later), or null.
 */
export async function checkRedis(redisUrl: string): Promise<string | null> {
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
    redis.disconnect();
    throw new UnreachableServiceError(`cannot reach Redis at ${redactUrl(redisUrl)} (${describe(error)}): ${HOW_TO_START}`);
  }
  try {
    const [, policy] = (await redis.config('GET', 'maxmemory-policy')) as string[];
    return policy && policy !== 'noeviction'
      ? `Redis at ${redactUrl(redisUrl)} has maxmemory-policy ${policy}: set it to noeviction, or queued jobs may be evicted`
      : null;
  } catch {
    // A managed Redis may refuse CONFIG; nothing to say then.
    return null;
  } finally {
    redis.disconnect();
  }
}
