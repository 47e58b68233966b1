import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { Policy } from '../planner/snapshot.js';

/** A host's load as the inventory has it now: the powered-on VMs' demand over its capacity. */
export interface HostLoadRow {
  id: string;
  cluster_id: string;
  state: string;
  cpu_capacity_mhz: number;
  memory_capacity_mb: number;
  cpu_demand_mhz: number;
  memory_active_mb: number;
  vms: number;
}

export interface BucketCounts {
  /** Cumulative count at or below each bound, in the bounds' order. */
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * The cheap aggregate queries that /metrics reads at each scrape, so that every Ballast process
 * answers the same figures (PostgreSQL is the truth, not a process's memory).
 */
@Injectable()
export class ScrapeRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  clusters(): Promise<{ id: string; automation_level: string; threshold: number; weights: Policy['resourceWeights'] }[]> {
    return this.db.query(`
      SELECT id, policy->>'automationLevel' AS automation_level, (policy->>'migrationThreshold')::int AS threshold,
             policy->'resourceWeights' AS weights
      FROM clusters ORDER BY id`);
  }

  async hostLoads(): Promise<HostLoadRow[]> {
    const rows: HostLoadRow[] = await this.db.query(`
      SELECT h.id, h.cluster_id, h.state, h.cpu_capacity_mhz, h.memory_capacity_mb,
             coalesce(v.cpu, 0)::float8 AS cpu_demand_mhz, coalesce(v.mem, 0)::float8 AS memory_active_mb, coalesce(v.n, 0)::int AS vms
      FROM hosts h
      LEFT JOIN (SELECT host_id, sum(cpu_demand_mhz) AS cpu, sum(memory_active_mb) AS mem, count(*) AS n
                 FROM vms WHERE power_state = 'on' GROUP BY host_id) v ON v.host_id = h.id
      ORDER BY h.cluster_id, h.id`);
    return rows;
  }

  migrationsByState(): Promise<{ cluster_id: string; state: string; reason: string; kind: string; n: number }[]> {
    return this.db.query(`
      SELECT cluster_id, state, reason, kind, count(*)::int AS n FROM migrations GROUP BY cluster_id, state, reason, kind`);
  }

  /** Seconds since the longest-waiting queued migration was queued (0 when none waits). */
  async oldestQueuedSeconds(): Promise<number> {
    const [row] = await this.db.query(`
      SELECT coalesce(extract(epoch FROM now() - min(queued_at)), 0)::float8 AS age
      FROM migrations WHERE state = 'queued'`);
    return row.age;
  }

  /** Histogram counts of a figure (seconds) of the succeeded migrations, per kind. */
  async migrationFigure(figure: 'totalTimeMs' | 'downtimeMs', bounds: readonly number[]): Promise<Map<string, BucketCounts>> {
    return this.histogram(
      `SELECT kind AS label, (result->>'${figure}')::float8 / 1000 AS x FROM migrations WHERE state = 'succeeded' AND result ? '${figure}'`,
      bounds,
    );
  }

  /** Measured over predicted total time of the succeeded compute migrations that had a prediction. */
  predictionRatios(bounds: readonly number[]): Promise<Map<string, BucketCounts>> {
    return this.histogram(
      `SELECT kind AS label, (result->>'totalTimeMs')::float8 / (prediction->>'totalTimeMs')::float8 AS x
       FROM migrations WHERE state = 'succeeded' AND (prediction->>'totalTimeMs')::float8 > 0 AND result ? 'totalTimeMs'`,
      bounds,
    );
  }

  /** How long the planner took per stored plan (seconds), per source. */
  planningSeconds(bounds: readonly number[]): Promise<Map<string, BucketCounts>> {
    return this.histogram(`SELECT source AS label, planning_ms / 1000 AS x FROM plans WHERE planning_ms IS NOT NULL`, bounds);
  }

  private async histogram(values: string, bounds: readonly number[]): Promise<Map<string, BucketCounts>> {
    const rows: { label: string; counts: number[]; sum: number; count: number }[] = await this.db.query(
      `WITH v AS MATERIALIZED (${values}),
            totals AS (SELECT label, coalesce(sum(x), 0)::float8 AS sum, count(*)::int AS count FROM v GROUP BY label),
            counts AS (SELECT v.label, u.i, count(*) FILTER (WHERE v.x <= u.b)::int AS n
                       FROM v CROSS JOIN unnest($1::float8[]) WITH ORDINALITY AS u(b, i) GROUP BY v.label, u.i)
       SELECT t.label, t.sum, t.count, (SELECT array_agg(c.n ORDER BY c.i) FROM counts c WHERE c.label = t.label) AS counts
       FROM totals t`,
      [bounds],
    );
    return new Map(rows.map((r) => [r.label, { buckets: r.counts, sum: r.sum, count: r.count }]));
  }
}
