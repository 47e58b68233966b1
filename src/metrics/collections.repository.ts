import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';

/** The collector's last attempt at a cluster, as the status shows it. */
export interface CollectionState {
  clusterId: string;
  source: string;
  lastAttemptAt: Date;
  lastSuccessAt: Date | null;
  /** Start of the current failure streak; null while the source answers. */
  failingSince: Date | null;
  error: string | null;
  samples: number;
}

const COLUMNS = `cluster_id AS "clusterId", source, last_attempt_at AS "lastAttemptAt", last_success_at AS "lastSuccessAt",
  failing_since AS "failingSince", error, samples`;

/** `metrics_collections`: one row per cluster, the outcome of the collector's last attempt. */
@Injectable()
export class CollectionsRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async get(clusterId: string, manager: EntityManager = this.db.manager): Promise<CollectionState | null> {
    const [row] = await manager.query(`SELECT ${COLUMNS} FROM metrics_collections WHERE cluster_id = $1`, [clusterId]);
    return row ?? null;
  }

  /** Every cluster's last attempt (for /metrics). */
  all(): Promise<CollectionState[]> {
    return this.db.query(`SELECT ${COLUMNS} FROM metrics_collections ORDER BY cluster_id`);
  }

  /** Records an attempt; a failure keeps the start of its streak. */
  async record(manager: EntityManager, attempt: { clusterId: string; source: string; at: Date; error: string | null; samples: number }): Promise<void> {
    await manager.query(
      `INSERT INTO metrics_collections AS c (cluster_id, source, last_attempt_at, last_success_at, failing_since, error, samples)
       VALUES ($1, $2, $3::timestamptz, CASE WHEN $4::text IS NULL THEN $3::timestamptz END, CASE WHEN $4::text IS NOT NULL THEN $3::timestamptz END, $4, $5)
       ON CONFLICT (cluster_id) DO UPDATE SET
         source = excluded.source,
         last_attempt_at = excluded.last_attempt_at,
         last_success_at = coalesce(excluded.last_success_at, c.last_success_at),
         failing_since = CASE WHEN excluded.error IS NULL THEN NULL ELSE coalesce(c.failing_since, excluded.failing_since) END,
         error = excluded.error,
         samples = excluded.samples`,
      [attempt.clusterId, attempt.source, attempt.at, attempt.error, attempt.samples],
    );
  }
}
