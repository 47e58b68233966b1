import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Maintenance1764200000000 implements MigrationInterface {
  name = 'Maintenance1764200000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE maintenance_operations (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        cluster_id text NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        host_id text NOT NULL,
        state text NOT NULL CHECK (state IN ('evacuating', 'stalled', 'completed', 'cancelled')),
        include_powered_off boolean NOT NULL,
        timeout_seconds integer NOT NULL CHECK (timeout_seconds > 0),
        deadline timestamptz NOT NULL,
        vm_ids text[] NOT NULL,
        reasons jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        exited_at timestamptz,
        return_plan_id uuid REFERENCES plans(id) ON DELETE SET NULL
      )`);
    // One operation at a time per host: a second request for a host in maintenance is a conflict.
    await db.query(`CREATE UNIQUE INDEX maintenance_one_active_per_host ON maintenance_operations (host_id) WHERE state IN ('evacuating', 'stalled')`);
    await db.query(`CREATE INDEX maintenance_host_idx ON maintenance_operations (host_id, created_at DESC)`);
    await db.query(`
      CREATE TABLE maintenance_events (
        operation_id uuid NOT NULL REFERENCES maintenance_operations(id) ON DELETE CASCADE,
        id bigserial,
        at timestamptz NOT NULL DEFAULT clock_timestamp(),
        type text NOT NULL,
        detail jsonb,
        PRIMARY KEY (operation_id, id)
      )`);
    await db.query(`ALTER TABLE migrations ADD COLUMN operation_id uuid REFERENCES maintenance_operations(id) ON DELETE SET NULL`);
    await db.query(`CREATE INDEX migrations_operation_idx ON migrations (operation_id) WHERE operation_id IS NOT NULL`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE migrations DROP COLUMN operation_id`);
    await db.query(`DROP TABLE maintenance_events`);
    await db.query(`DROP TABLE maintenance_operations`);
  }
}
