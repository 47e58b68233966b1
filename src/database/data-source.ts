import { DataSource, type DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../migrations/index.js';
import { ClusterEntity } from '../inventory/entities/cluster.entity.js';
import { HostEntity } from '../inventory/entities/host.entity.js';
import { RuleEntity } from '../inventory/entities/rule.entity.js';
import { VmEntity } from '../inventory/entities/vm.entity.js';
import { MaintenanceEventEntity, MaintenanceOperationEntity } from '../maintenance/maintenance.entity.js';
import { MigrationEntity, MigrationEventEntity } from '../migrations/migration.entity.js';
import { PlanEntity } from '../plans/plan.entity.js';

/** Every entity of Ballast; feature modules register theirs here. */
export const ENTITIES = [
  ClusterEntity,
  HostEntity,
  VmEntity,
  RuleEntity,
  PlanEntity,
  MigrationEntity,
  MigrationEventEntity,
  MaintenanceOperationEntity,
  MaintenanceEventEntity,
];

export function dataSourceOptions(databaseUrl: string): DataSourceOptions {
  return {
    type: 'postgres',
    url: databaseUrl,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    // "migrations" is Ballast's own table of live migrations.
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    // Ballast's working set (live migrations, inventory) sits in memory: key lookups are cheap, and
    // the planner should know it rather than scan a table for a few hundred rows.
    extra: { max: 20, connectionTimeoutMillis: 5000, options: '-c random_page_cost=1.1' },
  };
}

/** Applies every pending migration from `migrations/`; returns the names applied. */
export async function migrate(databaseUrl: string): Promise<string[]> {
  const dataSource = new DataSource(dataSourceOptions(databaseUrl));
  await dataSource.initialize();
  try {
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    await dataSource.destroy();
  }
}
