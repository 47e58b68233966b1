import type { MigrationInterface, QueryRunner } from 'typeorm';

export class PlansAndMigrations1764100000000 implements MigrationInterface {
  name = 'PlansAndMigrations1764100000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE plans (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        cluster_id text NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        status text NOT NULL CHECK (status IN ('proposed', 'approved', 'rejected')),
        source text NOT NULL CHECK (source IN ('operator', 'scheduler', 'maintenance')),
        threshold integer NOT NULL CHECK (threshold BETWEEN 1 AND 5),
        snapshot_taken_at timestamptz NOT NULL,
        imbalance_before double precision NOT NULL,
        imbalance_after double precision NOT NULL,
        moves jsonb NOT NULL,
        unresolved jsonb NOT NULL,
        trace jsonb NOT NULL,
        host_states jsonb NOT NULL,
        approved_moves integer[],
        created_at timestamptz NOT NULL DEFAULT now(),
        decided_at timestamptz
      )`);
    await db.query(`CREATE INDEX plans_cluster_idx ON plans (cluster_id, created_at DESC)`);
    await db.query(`
      CREATE TABLE migrations (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        cluster_id text NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        plan_id uuid REFERENCES plans(id) ON DELETE SET NULL,
        move_index integer,
        kind text NOT NULL CHECK (kind IN ('compute', 'storage')),
        vm_id text NOT NULL,
        source_host_id text NOT NULL,
        target_host_id text NOT NULL,
        source_datastore_id text,
        target_datastore_id text,
        priority integer NOT NULL CHECK (priority BETWEEN 1 AND 5),
        reason text NOT NULL,
        state text NOT NULL CHECK (state IN ('pending', 'queued', 'running', 'succeeded', 'failed', 'cancelled')),
        attempts integer NOT NULL DEFAULT 0,
        cancel_requested boolean NOT NULL DEFAULT false,
        error text,
        result jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        queued_at timestamptz,
        started_at timestamptz,
        finished_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    // One VM never has two migrations in flight, whatever the number of API and worker processes.
    await db.query(`CREATE UNIQUE INDEX migrations_one_in_flight_per_vm ON migrations (vm_id) WHERE state IN ('queued', 'running')`);
    await db.query(`CREATE INDEX migrations_active_idx ON migrations (cluster_id, state) WHERE state IN ('pending', 'queued', 'running')`);
    // The dispatcher reads pending migrations in this order, stopping as soon as the free slots are filled.
    await db.query(`CREATE INDEX migrations_pending_order_idx ON migrations (cluster_id, priority, created_at, plan_id, move_index) WHERE state = 'pending'`);
    // Few indexes on purpose: a migration's row changes state three times, and every change writes
    // into each (non-partial) index. Lists by host or plan go through the cluster they belong to.
    await db.query(`CREATE INDEX migrations_cluster_created_idx ON migrations (cluster_id, created_at DESC)`);
    await db.query(`CREATE INDEX migrations_vm_idx ON migrations (vm_id, created_at DESC)`);
    // A move of a plan waits for the earlier moves it needs: those of the same VM, and those that
    // make room on its target. Plans are valid step by step; this keeps them valid when run in parallel.
    await db.query(`
      CREATE TABLE migration_dependencies (
        migration_id uuid NOT NULL REFERENCES migrations(id) ON DELETE CASCADE,
        depends_on uuid NOT NULL REFERENCES migrations(id) ON DELETE CASCADE,
        PRIMARY KEY (migration_id, depends_on)
      )`);
    await db.query(`CREATE INDEX migration_dependencies_depends_on_idx ON migration_dependencies (depends_on)`);
    // No foreign key to migrations: the history takes thousands of rows a second, and a key check
    // (a lookup and a row lock each) would double the cost of writing them. Rows go with their
    // migration through the trigger below instead.
    await db.query(`
      CREATE TABLE migration_events (
        migration_id uuid NOT NULL,
        id bigserial,
        at timestamptz NOT NULL DEFAULT clock_timestamp(),
        type text NOT NULL,
        from_state text,
        to_state text,
        detail jsonb,
        PRIMARY KEY (migration_id, id)
      )`);
    await db.query(`
      CREATE FUNCTION forget_migration_events() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        DELETE FROM migration_events WHERE migration_id IN (SELECT id FROM gone);
        RETURN NULL;
      END $$`);
    await db.query(`
      CREATE TRIGGER migrations_forget_events AFTER DELETE ON migrations
      REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION forget_migration_events()`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TRIGGER migrations_forget_events ON migrations`);
    await db.query(`DROP FUNCTION forget_migration_events`);
    await db.query(`DROP TABLE migration_events`);
    await db.query(`DROP TABLE migration_dependencies`);
    await db.query(`DROP TABLE migrations`);
    await db.query(`DROP TABLE plans`);
  }
}
