import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { hostsLastHeardSql } from '../metrics/series.repository.js';
import type { HostState } from '../planner/snapshot.js';
import type { IncidentState } from './closed-loop-status.js';
import { WATCHED_HOST_STATES } from './host-failure.js';
import { LOOP_DEFAULTS } from './loop-policy.js';

/** One thing HA did about an incident, in words, with its time. */
export interface IncidentAction {
  at: string;
  action: 'host-failed' | 'vms-down' | 'restart-planned' | 'found-running' | 'restart-cancelled' | 'host-returned';
  vmId?: string;
  hostId?: string;
  detail: string;
}

export interface Incident {
  id: string;
  clusterId: string;
  hostId: string;
  kind: 'host-failed';
  startedAt: Date;
  endedAt: Date | null;
  lastHeardAt: Date | null;
  previousHostState: HostState;
  /** The VMs that went down with the host. */
  vmIds: string[];
  actions: IncidentAction[];
  /** The down VMs HA could not restart at the last evaluation, and why. */
  unplaced: { vmId: string; reason: string }[];
  /** Of `vmIds`, those still down now. */
  stillDown: string[];
}

const COLUMNS = `id, cluster_id AS "clusterId", host_id AS "hostId", kind, started_at AS "startedAt", ended_at AS "endedAt",
  last_heard_at AS "lastHeardAt", previous_host_state AS "previousHostState", vm_ids AS "vmIds", actions, unplaced,
  coalesce((SELECT array_agg(v.id ORDER BY v.id) FROM vms v WHERE v.id = ANY(i.vm_ids) AND v.down_since IS NOT NULL), '{}') AS "stillDown"`;

/** `incidents`: a failed host, from its failure until it answers again. */
@Injectable()
export class IncidentsRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /**
   * Clusters to evaluate at once for HA (the scheduler asks every tick, as it asks for newly hot
   * hosts): a watched host not heard of for the cluster's grace period while another host of the
   * cluster was (as in host-failure.ts), or a failed host with an open incident heard again since.
   */
  async clustersWithFailingOrReturningHosts(now: Date): Promise<string[]> {
    const rows: { cluster_id: string }[] = await this.db.query(
      // "Another host of the cluster was heard within the grace period" is the cluster's latest time
      // heard, computed once per cluster: an EXISTS over the CTE per host was quadratic in the hosts
      // (33 s per tick for 16,000 hosts).
      `WITH heard AS MATERIALIZED (${hostsLastHeardSql('$1::timestamptz - interval \'1 day\'', null)}),
       latest AS (SELECT cluster_id, max(at) AS at FROM heard GROUP BY cluster_id),
       grace AS (
         SELECT id AS cluster_id, make_interval(secs => coalesce((policy->>'failedHostGraceSeconds')::float8, $2)) AS g FROM clusters)
       SELECT DISTINCT heard.cluster_id FROM heard JOIN grace USING (cluster_id) JOIN latest USING (cluster_id)
       WHERE (heard.state = ANY($3) AND heard.at <= $1 - grace.g AND latest.at > $1 - grace.g)
          OR (heard.state = 'failed'
              AND EXISTS (SELECT 1 FROM incidents i WHERE i.host_id = heard.id AND i.ended_at IS NULL AND heard.at > i.started_at))`,
      [now, LOOP_DEFAULTS.failedHostGraceSeconds, WATCHED_HOST_STATES],
    );
    return rows.map((r) => r.cluster_id);
  }

  async open(clusterId: string, manager: EntityManager = this.db.manager): Promise<Incident[]> {
    return manager.query(`SELECT ${COLUMNS} FROM incidents i WHERE cluster_id = $1 AND ended_at IS NULL ORDER BY started_at, host_id`, [clusterId]);
  }

  /** A page of the cluster's incidents, newest first; `state` open (not ended) or closed, else both. */
  async page(clusterId: string, state: IncidentState | undefined, page: { limit: number; offset: number }): Promise<{ items: Incident[]; total: number }> {
    const where = `cluster_id = $1${state === undefined ? '' : state === 'open' ? ' AND ended_at IS NULL' : ' AND ended_at IS NOT NULL'}`;
    const items: Incident[] = await this.db.query(`SELECT ${COLUMNS} FROM incidents i WHERE ${where} ORDER BY started_at DESC, id DESC LIMIT $2 OFFSET $3`, [
      clusterId,
      page.limit,
      page.offset,
    ]);
    const [{ total }]: { total: number }[] = await this.db.query(`SELECT count(*)::int AS total FROM incidents WHERE ${where}`, [clusterId]);
    return { items, total };
  }

  async create(
    manager: EntityManager,
    incident: Pick<Incident, 'clusterId' | 'hostId' | 'startedAt' | 'lastHeardAt' | 'previousHostState' | 'vmIds' | 'actions'>,
  ): Promise<string> {
    const [row]: { id: string }[] = await manager.query(
      `INSERT INTO incidents (cluster_id, host_id, kind, started_at, last_heard_at, previous_host_state, vm_ids, actions)
       VALUES ($1, $2, 'host-failed', $3, $4, $5, $6, $7) RETURNING id`,
      [incident.clusterId, incident.hostId, incident.startedAt, incident.lastHeardAt, incident.previousHostState, incident.vmIds, JSON.stringify(incident.actions)],
    );
    return row.id;
  }

  async addActions(manager: EntityManager, id: string, actions: IncidentAction[]): Promise<void> {
    if (actions.length === 0) return;
    await manager.query(`UPDATE incidents SET actions = actions || $2::jsonb WHERE id = $1`, [id, JSON.stringify(actions)]);
  }

  async setUnplaced(manager: EntityManager, id: string, unplaced: Incident['unplaced']): Promise<void> {
    await manager.query(`UPDATE incidents SET unplaced = $2 WHERE id = $1`, [id, JSON.stringify(unplaced)]);
  }

  async close(manager: EntityManager, id: string, at: Date, actions: IncidentAction[]): Promise<void> {
    await manager.query(`UPDATE incidents SET ended_at = $2, unplaced = '[]', actions = actions || $3::jsonb WHERE id = $1`, [id, at, JSON.stringify(actions)]);
  }
}
