import type { EntityManager, EntityTarget, ObjectLiteral } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';

const CHUNK = 5000;

function sqlType(column: ColumnMetadata): string {
  const base = String(column.type);
  return column.isArray ? `${base}[]` : base;
}

/**
 * Inserts many rows in one statement per chunk: the rows travel as one JSON parameter and PostgreSQL
 * unpacks them with jsonb_to_recordset. Column names and types come from the entity's metadata, so
 * there is no second list to keep in step. Timestamps are left to their database defaults, and so
 * are generated ids unless the rows bring their own.
 */
export async function bulkInsert<T extends ObjectLiteral>(
  manager: EntityManager,
  entity: EntityTarget<T>,
  rows: Partial<T>[],
): Promise<void> {
  const meta = manager.connection.getMetadata(entity);
  const columns = meta.columns.filter(
    (c) => !c.isCreateDate && !c.isUpdateDate && (!c.isGenerated || rows.some((row) => (row as Record<string, unknown>)[c.propertyName] !== undefined)),
  );
  const names = columns.map((c) => `"${c.databaseName}"`).join(', ');
  const definitions = columns.map((c) => `"${c.databaseName}" ${sqlType(c)}`).join(', ');
  const sql = `INSERT INTO "${meta.tableName}" (${names}) SELECT ${names} FROM jsonb_to_recordset($1::jsonb) AS x(${definitions})`;
  for (let start = 0; start < rows.length; start += CHUNK) {
    const records = rows.slice(start, start + CHUNK).map((row) => {
      const record: Record<string, unknown> = {};
      for (const c of columns) record[c.databaseName] = (row as Record<string, unknown>)[c.propertyName] ?? null;
      return record;
    });
    await manager.query(sql, [JSON.stringify(records)]);
  }
}
