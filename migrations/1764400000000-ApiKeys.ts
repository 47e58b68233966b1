import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * API keys: only the SHA-256 of each key is kept (src/auth/key-hash.ts says why a fast hash is right
 * for random keys). A revoked or expired key stays, so the audit trail can still name it.
 */
export class ApiKeys1764400000000 implements MigrationInterface {
  name = 'ApiKeys1764400000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        role text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        key_hash bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
        key_prefix text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by_key_id text,
        expires_at timestamptz,
        revoked_at timestamptz,
        last_used_at timestamptz
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE api_keys`);
  }
}
