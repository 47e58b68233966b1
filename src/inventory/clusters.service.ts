import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { conflict, notFound } from '../common/http-errors.js';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import type { MetricsSourceName } from '../metrics/metrics-source.js';
import { parseOrBadRequest } from '../common/parse-body.pipe.js';
import type { Page } from '../common/query-params.js';
import { PG_UNIQUE_VIOLATION, pgErrorCode } from '../database/pg-errors.js';
import type { Policy } from '../planner/snapshot.js';
import { type ClusterChanges, mergePolicy } from './clusters.dto.js';
import { ClusterEntity } from './entities/cluster.entity.js';
import { policyToFormat } from './format-mapping.js';

export interface ClusterView {
  id: string;
  name: string;
  policy: Policy;
  metricsSource: MetricsSourceName;
  hostCount: number;
  vmCount: number;
}

const VIEW_SQL = `
  SELECT c.id, c.name, c.policy, c.metrics_source AS "metricsSource",
         (SELECT count(*)::int FROM hosts h WHERE h.cluster_id = c.id) AS "hostCount",
         (SELECT count(*)::int FROM vms v WHERE v.cluster_id = c.id) AS "vmCount"
  FROM clusters c`;

@Injectable()
export class ClustersService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
  ) {}

  private toView(row: ClusterView): ClusterView {
    return { ...row, policy: policyToFormat(row.policy), metricsSource: row.metricsSource ?? this.config.METRICS_SOURCE };
  }

  /** The source that measures the cluster: its own, or the installation's default. */
  metricsSourceOf(cluster: Pick<ClusterEntity, 'metricsSource'>): MetricsSourceName {
    return cluster.metricsSource ?? this.config.METRICS_SOURCE;
  }

  async list(page: { limit: number; offset: number }): Promise<Page<ClusterView>> {
    const rows: ClusterView[] = await this.db.query(`${VIEW_SQL} ORDER BY c.id LIMIT $1 OFFSET $2`, [page.limit, page.offset]);
    const items = rows.map((row) => this.toView(row));
    const [{ total }] = await this.db.query(`SELECT count(*)::int AS total FROM clusters`);
    return { items, total, ...page };
  }

  async get(id: string): Promise<ClusterView> {
    const [view]: ClusterView[] = await this.db.query(`${VIEW_SQL} WHERE c.id = $1`, [id]);
    if (!view) throw notFound('cluster', id);
    return this.toView(view);
  }

  /**
   * The cluster row; `lock` (inside a transaction) takes its row lock, so that writers of one
   * cluster's inventory (imports, rule checks) go one at a time.
   */
  find(id: string, manager: EntityManager = this.db.manager, lock = false): Promise<ClusterEntity | null> {
    return manager.findOne(ClusterEntity, { where: { id }, lock: lock ? { mode: 'pessimistic_write' } : undefined });
  }

  async require(id: string, manager: EntityManager = this.db.manager, lock = false): Promise<ClusterEntity> {
    const cluster = await this.find(id, manager, lock);
    if (!cluster) throw notFound('cluster', id);
    return cluster;
  }

  async create(input: { id: string; name: string; policy: Policy; metricsSource: MetricsSourceName | null }): Promise<ClusterView> {
    try {
      await this.db.getRepository(ClusterEntity).insert(input);
    } catch (error) {
      if (pgErrorCode(error) === PG_UNIQUE_VIOLATION) throw conflict(`cluster "${input.id}" already exists`);
      throw error;
    }
    return this.get(input.id);
  }

  async update(id: string, changes: ClusterChanges): Promise<ClusterView> {
    await this.db.transaction(async (manager) => {
      const cluster = await this.require(id, manager, true);
      if (changes.name !== undefined) cluster.name = changes.name;
      cluster.policy = parseOrBadRequest(() => mergePolicy(cluster.policy, changes.policy));
      if (changes.metricsSource !== undefined) cluster.metricsSource = changes.metricsSource;
      await manager.save(cluster);
    });
    return this.get(id);
  }

  /** Refuses a cluster that still has hosts unless `force`, which deletes its whole inventory with it. */
  async remove(id: string, force: boolean): Promise<void> {
    await this.db.transaction(async (manager) => {
      await this.require(id, manager, true);
      if (!force) {
        const [{ count }] = await manager.query(`SELECT count(*)::int AS count FROM hosts WHERE cluster_id = $1`, [id]);
        if (count > 0) throw conflict(`cluster "${id}" still has ${count} hosts; delete them first or use ?force=true`);
      }
      await manager.delete(ClusterEntity, { id });
    });
  }
}
