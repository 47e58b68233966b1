import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

/** What the scheduler's last planning run of a cluster decided. */
export const PLANNING_OUTCOMES = ['planned', 'below-target', 'migrations-in-progress', 'locked', 'no-move-pays', 'failed'] as const;
export type PlanningOutcome = (typeof PLANNING_OUTCOMES)[number];

export interface PlanningRun {
  clusterId: string;
  at: Date;
  outcome: PlanningOutcome;
  reason: string;
  planId: string | null;
  moves: number;
  /** The reference imbalance the run saw (null when it did not look). */
  imbalance: number | null;
}

const COLUMNS = `cluster_id AS "clusterId", at, outcome, reason, plan_id AS "planId", moves, imbalance`;

/** `planning_runs`: one row per cluster, its last planning run. */
@Injectable()
export class PlanningRunsRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async record(run: PlanningRun): Promise<void> {
    await this.db.query(
      `INSERT INTO planning_runs (cluster_id, at, outcome, reason, plan_id, moves, imbalance)
       SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM clusters WHERE id = $1)
       ON CONFLICT (cluster_id) DO UPDATE SET at = excluded.at, outcome = excluded.outcome, reason = excluded.reason,
         plan_id = excluded.plan_id, moves = excluded.moves, imbalance = excluded.imbalance`,
      [run.clusterId, run.at, run.outcome, run.reason, run.planId, run.moves, run.imbalance],
    );
  }

  async last(clusterId: string): Promise<PlanningRun | null> {
    const [row] = await this.db.query(`SELECT ${COLUMNS} FROM planning_runs WHERE cluster_id = $1`, [clusterId]);
    return row ?? null;
  }
}
