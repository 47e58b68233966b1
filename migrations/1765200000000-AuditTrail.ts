import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit trail: one row per change asked of the API (POST, PUT, PATCH, DELETE on /api/v1) by a
 * caller whose key was accepted, with the status it was answered. Key ids are text without a
 * foreign key, like api_keys.created_by_key_id: the bootstrap key has no row, a key's id must
 * outlive the key, and an open API has none (null). `target_ids` repeats the values of `targets`
 * so "everything that touched host h1" is one indexed lookup.
 */
export class AuditTrail1765200000000 implements MigrationInterface {
  name = 'AuditTrail1765200000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE audit_events (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at timestamptz NOT NULL,
        key_id text,
        key_name text NOT NULL,
        key_role text NOT NULL,
        method text NOT NULL,
        route text NOT NULL,
        kind text NOT NULL,
        action text NOT NULL,
        targets jsonb NOT NULL DEFAULT '{}',
        target_ids text[] NOT NULL DEFAULT '{}',
        status smallint NOT NULL,
        message text,
        request_id text,
        before jsonb,
        after jsonb
      )`);
    await db.query(`CREATE INDEX audit_events_at ON audit_events (at)`);
    await db.query(`CREATE INDEX audit_events_key ON audit_events (key_id, id)`);
    await db.query(`CREATE INDEX audit_events_targets ON audit_events USING gin (target_ids)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE audit_events`);
  }
}
