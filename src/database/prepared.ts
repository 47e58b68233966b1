import type { EntityManager } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';
import type { PostgresQueryRunner } from 'typeorm/driver/postgres/PostgresQueryRunner.js';

interface PgClient {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

/**
 * Runs a statement as a named prepared statement, which PostgreSQL parses and plans once per
 * connection instead of at every call: for the big statements on the hot path of migrations,
 * planning costs as much as running. In `manager`'s transaction when it has one.
 */
export async function queryPrepared<T>(manager: EntityManager, name: string, text: string, values: unknown[]): Promise<T[]> {
  const runner = manager.queryRunner as PostgresQueryRunner | undefined;
  const client: PgClient = runner ? await runner.connect() : (manager.connection.driver as PostgresDriver).master;
  return (await client.query({ name, text, values })).rows as T[];
}
