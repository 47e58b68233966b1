import type { EntityManager } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';
import type { PostgresQueryRunner } from 'typeorm/driver/postgres/PostgresQueryRunner.js';

interface PgClient {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[]; rowCount: number | null }>;
}

/**
 * Runs a statement as a named prepared statement, which PostgreSQL parses and plans once per
 * connection instead of at every call: for the big statements on the hot path of migrations,
 * planning costs as much as running. In `manager`'s transaction when it has one.
 */
export async function queryPrepared<T>(manager: EntityManager, name: string, text: string, values: unknown[]): Promise<T[]> {
  return (await runPrepared(manager, name, text, values)).rows as T[];
}

/** As queryPrepared, for a statement whose answer is how many rows it wrote. */
export async function executePrepared(manager: EntityManager, name: string, text: string, values: unknown[]): Promise<number> {
  return (await runPrepared(manager, name, text, values)).rowCount ?? 0;
}

async function runPrepared(manager: EntityManager, name: string, text: string, values: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }> {
  const runner = manager.queryRunner as PostgresQueryRunner | undefined;
  const client: PgClient = runner ? await runner.connect() : (manager.connection.driver as PostgresDriver).master;
  return client.query({ name, text, values });
}
