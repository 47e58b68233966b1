import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The scheduler's whole-cluster planning runs gave way to the closed loop's evaluations
 * (cluster_evaluations holds what each decided): nothing writes planning_runs any more.
 */
export class DropPlanningRuns1765900000000 implements MigrationInterface {
  name = 'DropPlanningRuns1765900000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE planning_runs`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE planning_runs (
        cluster_id text PRIMARY KEY REFERENCES clusters(id) ON DELETE CASCADE,
        at timestamptz NOT NULL,
        outcome text NOT NULL CHECK (outcome IN ('planned', 'below-target', 'migrations-in-progress', 'locked', 'no-move-pays', 'failed')),
        reason text NOT NULL,
        plan_id uuid REFERENCES plans(id) ON DELETE SET NULL,
        moves integer NOT NULL DEFAULT 0,
        imbalance double precision
      )`);
  }
}
