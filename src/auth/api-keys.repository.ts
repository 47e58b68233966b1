import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { KeyRole } from './roles.js';

export interface ApiKeyRow {
  id: string;
  name: string;
  role: KeyRole;
  key_prefix: string;
  created_at: Date;
  created_by_key_id: string | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

const COLUMNS = 'id, name, role, key_prefix, created_at, created_by_key_id, expires_at, revoked_at, last_used_at';

/** The api_keys table's SQL. */
@Injectable()
export class ApiKeysRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async insert(key: { name: string; role: KeyRole; hash: Buffer; prefix: string; expiresAt: Date | null; createdBy: string | null }): Promise<ApiKeyRow> {
    const [row] = (await this.db.query(
      `INSERT INTO api_keys (name, role, key_hash, key_prefix, expires_at, created_by_key_id)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
      [key.name, key.role, key.hash, key.prefix, key.expiresAt, key.createdBy],
    )) as ApiKeyRow[];
    return row;
  }

  async byHash(hash: Buffer): Promise<ApiKeyRow | undefined> {
    const rows = (await this.db.query(`SELECT ${COLUMNS} FROM api_keys WHERE key_hash = $1`, [hash])) as ApiKeyRow[];
    return rows[0];
  }

  async byId(id: string): Promise<ApiKeyRow | undefined> {
    const rows = (await this.db.query(`SELECT ${COLUMNS} FROM api_keys WHERE id = $1`, [id])) as ApiKeyRow[];
    return rows[0];
  }

  async page(includeInactive: boolean, limit: number, offset: number): Promise<{ rows: ApiKeyRow[]; total: number }> {
    const where = includeInactive ? '' : 'WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())';
    const rows = (await this.db.query(`SELECT ${COLUMNS} FROM api_keys ${where} ORDER BY created_at, id LIMIT $1 OFFSET $2`, [limit, offset])) as ApiKeyRow[];
    const [{ total }] = (await this.db.query(`SELECT count(*)::int AS total FROM api_keys ${where}`)) as { total: number }[];
    return { rows, total };
  }

  /** Revokes a key (once: a second revocation keeps the first time); undefined for an unknown id. */
  async revoke(id: string): Promise<ApiKeyRow | undefined> {
    // A statement that starts with WITH answers rows, as a SELECT does (an UPDATE answers [rows, count]).
    const rows = (await this.db.query(
      `WITH revoked AS (UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING ${COLUMNS})
       SELECT * FROM revoked`,
      [id],
    )) as ApiKeyRow[];
    return rows[0];
  }

  /** Whether any key was ever stored: once one was, the API asks for keys, even when all are revoked. */
  async anyStored(): Promise<boolean> {
    const [{ any }] = (await this.db.query(`SELECT EXISTS (SELECT 1 FROM api_keys) AS any`)) as { any: boolean }[];
    return any;
  }

  /** Notes a key's use, at most once a minute (a write per request would be too many). */
  async touch(id: string): Promise<void> {
    await this.db.query(
      `UPDATE api_keys SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
      [id],
    );
  }
}
