import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * migrations.engine: the engine (MIGRATION_ENGINE) a migration was created under, whose VMs it moves;
 * a start with another engine is refused while such a migration has not ended. Null for the rows
 * made before it was recorded (unknown: not guarded).
 * vms.disk_mb: the size of a VM's disks, which a storage migration copies (null: not known).
 */
export class EngineAndDiskSize1765600000000 implements MigrationInterface {
  name = 'EngineAndDiskSize1765600000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE migrations ADD COLUMN engine text`);
    await db.query(`ALTER TABLE vms ADD COLUMN disk_mb double precision`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE vms DROP COLUMN disk_mb`);
    await db.query(`ALTER TABLE migrations DROP COLUMN engine`);
  }
}
