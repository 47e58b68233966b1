import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { sqlStates, UNFINISHED_STATES } from '../migrations/migration-state.js';
import { thresholdLevel } from '../planner/thresholds.js';
import type { ChangeWindowView } from './evaluation-view.js';
import type { Detection } from './detection.js';
import type { Hold } from './anti-thrash.js';
import type { ChurnBudget } from './churn-budget.js';
import type { EvaluationDecision } from './evaluate.js';

/** A cluster's closed-loop state: what the last evaluation found and did, and when the next is due. */
export interface EvaluationRecord {
  clusterId: string;
  detections: Detection[];
  evaluatedAt: Date | null;
  nextAt: Date | null;
  summary: string | null;
  movesStarted: number;
  recommended: number;
  planId: string | null;
  held: Hold[];
  budget: ChurnBudget | null;
  changeWindow: ChangeWindowView | null;
  /** What the evaluation decided (null for a row written before this was kept). */
  outcome?: EvaluationDecision | null;
  /** The reference imbalance it saw. */
  imbalance?: number | null;
}

const COLUMNS = `cluster_id AS "clusterId", detections, evaluated_at AS "evaluatedAt", next_at AS "nextAt", summary,
  moves_started AS "movesStarted", recommended, plan_id AS "planId", held, budget, change_window AS "changeWindow", outcome, imbalance`;

/** `cluster_evaluations`: one row per cluster. */
@Injectable()
export class EvaluationsRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async get(clusterId: string, manager: EntityManager = this.db.manager): Promise<EvaluationRecord | null> {
    const [row] = await manager.query(`SELECT ${COLUMNS} FROM cluster_evaluations WHERE cluster_id = $1`, [clusterId]);
    return row ?? null;
  }

  async save(manager: EntityManager, r: EvaluationRecord): Promise<void> {
    await manager.query(
      `INSERT INTO cluster_evaluations (cluster_id, detections, evaluated_at, next_at, summary, moves_started, recommended, plan_id, held, budget, change_window, outcome, imbalance)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
       ON CONFLICT (cluster_id) DO UPDATE SET detections = excluded.detections, evaluated_at = excluded.evaluated_at, next_at = excluded.next_at,
         summary = excluded.summary, moves_started = excluded.moves_started, recommended = excluded.recommended, plan_id = excluded.plan_id,
         held = excluded.held, budget = excluded.budget, change_window = excluded.change_window, outcome = excluded.outcome, imbalance = excluded.imbalance`,
      [
        r.clusterId, JSON.stringify(r.detections), r.evaluatedAt, r.nextAt, r.summary, r.movesStarted, r.recommended, r.planId,
        JSON.stringify(r.held), r.budget === null ? null : JSON.stringify(r.budget), r.changeWindow === null ? null : JSON.stringify(r.changeWindow),
        r.outcome ?? null, r.imbalance ?? null,
      ],
    );
  }

  /** Every cluster's last evaluation time and its open detections by kind (for /metrics). */
  async overview(): Promise<{ clusterId: string; evaluatedAt: Date | null; detections: Record<string, number> }[]> {
    return this.db.query(`
      SELECT e.cluster_id AS "clusterId", e.evaluated_at AS "evaluatedAt",
             coalesce((SELECT jsonb_object_agg(k, n) FROM (SELECT d->>'kind' AS k, count(*) AS n FROM jsonb_array_elements(e.detections) d GROUP BY 1) x), '{}') AS detections
      FROM cluster_evaluations e ORDER BY e.cluster_id`);
  }

  /** Clusters whose evaluation is due at `now` (never evaluated, or past their next time), oldest due first. */
  async due(now: Date, limit: number): Promise<string[]> {
    const rows: { id: string }[] = await this.db.query(
      `SELECT c.id FROM clusters c LEFT JOIN cluster_evaluations e ON e.cluster_id = c.id
       WHERE e.next_at IS NULL OR e.next_at <= $1 ORDER BY e.next_at NULLS FIRST, c.id LIMIT $2`,
      [now, limit],
    );
    return rows.map((r) => r.id);
  }

  /**
   * Clusters with a connected host above its overload line (the policy's threshold, as in
   * overloadLines) that the last evaluation did not see: a detection event, evaluated at once.
   */
  async newlyHot(): Promise<string[]> {
    // Each host's load is one aggregation over the VMs plus a correction for the few in flight, and
    // no join has a side whose size the planner must guess right: joined per VM to the unfinished
    // migrations, a table without statistics yet (freshly imported, autovacuum not run) made it a
    // nested loop of VMs by migrations, seconds to minutes per tick.
    const rows: { cluster_id: string }[] = await this.db.query(`
      WITH moving AS MATERIALIZED (
        SELECT m.vm_id, v.host_id, m.target_host_id, v.cpu_demand_mhz, v.memory_active_mb
        FROM migrations m JOIN vms v ON v.id = m.vm_id
        WHERE m.kind = 'compute' AND m.state IN ${sqlStates(UNFINISHED_STATES)} AND v.power_state = 'on'),
      load AS (
        -- A VM in flight counts on its target, as the evaluation sees it: off its host (once), onto each target.
        SELECT host_id, sum(cpu) AS cpu, sum(mem) AS mem FROM (
          SELECT host_id, cpu_demand_mhz AS cpu, memory_active_mb AS mem FROM vms WHERE power_state = 'on'
          UNION ALL
          SELECT DISTINCT ON (vm_id) host_id, -cpu_demand_mhz, -memory_active_mb FROM moving
          UNION ALL
          SELECT target_host_id, cpu_demand_mhz, memory_active_mb FROM moving) placed
        GROUP BY host_id),
      lines AS (
        SELECT id AS cluster_id,
               ($1::float8[])[(policy->>'migrationThreshold')::int] AS soft,
               coalesce((policy->>'maxCpuUtilization')::float, 1) AS cap
        FROM clusters)
      SELECT DISTINCT h.cluster_id FROM load l JOIN hosts h ON h.id = l.host_id JOIN lines ON lines.cluster_id = h.cluster_id
      LEFT JOIN cluster_evaluations e ON e.cluster_id = h.cluster_id
      WHERE h.state = 'connected'
        AND (l.cpu / h.cpu_capacity_mhz > least(lines.soft, lines.cap) OR l.mem / h.memory_capacity_mb > lines.soft)
        AND NOT coalesce(e.detections @> jsonb_build_array(jsonb_build_object('kind', 'overloaded', 'subject', h.id)), false)`,
      [[1, 2, 3, 4, 5].map((t) => thresholdLevel(t).overloadUtilization ?? 1)],
    );
    return rows.map((r) => r.cluster_id);
  }
}
