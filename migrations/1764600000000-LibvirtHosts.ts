import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Hosts reached through libvirt (`connection_uri`, `migration_address`); what discovery learns of a
 * VM that the planner does not need (its name, its MACs) or that it must not lose (a VM gone from every host
 * is `missing_since`, not deleted); the planner's prediction of each migration beside its result.
 */
export class LibvirtHosts1764600000000 implements MigrationInterface {
  name = 'LibvirtHosts1764600000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE hosts ADD COLUMN connection_uri text, ADD COLUMN migration_address text`);
    await db.query(`ALTER TABLE vms ADD COLUMN name text, ADD COLUMN mac_addresses text[], ADD COLUMN missing_since timestamptz`);
    await db.query(`ALTER TABLE migrations ADD COLUMN prediction jsonb`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE migrations DROP COLUMN prediction`);
    await db.query(`ALTER TABLE vms DROP COLUMN name, DROP COLUMN mac_addresses, DROP COLUMN missing_since`);
    await db.query(`ALTER TABLE hosts DROP COLUMN connection_uri, DROP COLUMN migration_address`);
  }
}
