import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The last health report of each host (Proactive HA) and what it did to the host. */
export class HostHealth1764700000001 implements MigrationInterface {
  name = 'HostHealth1764700000001';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE host_health (
        host_id text PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
        severity text NOT NULL CHECK (severity IN ('healthy', 'moderate', 'severe')),
        detail text,
        reported_at timestamptz NOT NULL,
        action text CHECK (action IN ('quarantine', 'maintenance')),
        quarantined_by_health boolean NOT NULL DEFAULT false,
        operation_id uuid
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE host_health`);
  }
}
