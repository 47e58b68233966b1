import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The closed loop's state of each cluster: its open detections and its last evaluation. */
export class ClosedLoop1764700000000 implements MigrationInterface {
  name = 'ClosedLoop1764700000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE cluster_evaluations (
        cluster_id text PRIMARY KEY REFERENCES clusters(id) ON DELETE CASCADE,
        detections jsonb NOT NULL DEFAULT '[]',
        evaluated_at timestamptz,
        next_at timestamptz,
        summary text,
        moves_started integer NOT NULL DEFAULT 0,
        recommended integer NOT NULL DEFAULT 0,
        plan_id uuid,
        held jsonb NOT NULL DEFAULT '[]',
        budget jsonb,
        change_window jsonb
      )`);
    await db.query(`CREATE INDEX cluster_evaluations_next_idx ON cluster_evaluations (next_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE cluster_evaluations`);
  }
}
