import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * HA restart (vSphere HA-style): each VM's restart priority and whether it is down (its host
 * failed), restarts as migrations of kind `restart`, and the incidents of failed hosts.
 */
export class HaRestart1765700000000 implements MigrationInterface {
  name = 'HaRestart1765700000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE vms ADD COLUMN restart_priority text CHECK (restart_priority IN ('high', 'medium', 'low', 'disabled'))`);
    await db.query(`ALTER TABLE vms ADD COLUMN down_since timestamptz`);
    await db.query(`CREATE INDEX vms_down_idx ON vms (cluster_id) WHERE down_since IS NOT NULL`);
    await db.query(`ALTER TABLE migrations DROP CONSTRAINT migrations_kind_check`);
    await db.query(`ALTER TABLE migrations ADD CONSTRAINT migrations_kind_check CHECK (kind IN ('compute', 'storage', 'restart'))`);
    await db.query(`
      CREATE TABLE incidents (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        cluster_id text NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        host_id text NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
        kind text NOT NULL CHECK (kind IN ('host-failed')),
        started_at timestamptz NOT NULL,
        ended_at timestamptz,
        last_heard_at timestamptz,
        previous_host_state text NOT NULL,
        vm_ids text[] NOT NULL,
        actions jsonb NOT NULL DEFAULT '[]',
        unplaced jsonb NOT NULL DEFAULT '[]'
      )`);
    await db.query(`CREATE UNIQUE INDEX incidents_one_open_per_host ON incidents (host_id) WHERE ended_at IS NULL`);
    await db.query(`CREATE INDEX incidents_cluster_idx ON incidents (cluster_id, started_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE incidents`);
    await db.query(`DELETE FROM migrations WHERE kind = 'restart'`);
    await db.query(`ALTER TABLE migrations DROP CONSTRAINT migrations_kind_check`);
    await db.query(`ALTER TABLE migrations ADD CONSTRAINT migrations_kind_check CHECK (kind IN ('compute', 'storage'))`);
    await db.query(`ALTER TABLE vms DROP COLUMN down_since, DROP COLUMN restart_priority`);
  }
}
