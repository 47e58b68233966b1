import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Which API key asked for a plan, approved it, started a maintenance operation or a migration.
 * Text without a foreign key, like api_keys.created_by_key_id: the bootstrap key (BALLAST_ADMIN_KEY)
 * has no row, and a key's id must outlive the key. Null: Ballast itself (scheduler, closed loop) or
 * an open API.
 */
export class RequestedBy1765100000000 implements MigrationInterface {
  name = 'RequestedBy1765100000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE plans ADD COLUMN requested_by_key_id text, ADD COLUMN approved_by_key_id text`);
    await db.query(`ALTER TABLE migrations ADD COLUMN requested_by_key_id text`);
    await db.query(`ALTER TABLE maintenance_operations ADD COLUMN requested_by_key_id text`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE maintenance_operations DROP COLUMN requested_by_key_id`);
    await db.query(`ALTER TABLE migrations DROP COLUMN requested_by_key_id`);
    await db.query(`ALTER TABLE plans DROP COLUMN requested_by_key_id, DROP COLUMN approved_by_key_id`);
  }
}
