import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What each cluster's last evaluation decided, as a code beside its summary, and the imbalance it
 * saw: the status's `planning.last` (outcome, reason, imbalance) comes from the closed loop.
 */
export class EvaluationOutcome1765800000000 implements MigrationInterface {
  name = 'EvaluationOutcome1765800000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE cluster_evaluations ADD COLUMN outcome text, ADD COLUMN imbalance double precision`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE cluster_evaluations DROP COLUMN outcome, DROP COLUMN imbalance`);
  }
}
