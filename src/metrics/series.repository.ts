import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { queryPrepared } from '../database/prepared.js';
import type { PowerState } from '../planner/snapshot.js';

/**
 * SQL of a row per host (`cluster_id`, `id`, `state`, `at`): when the metrics source last heard of
 * it since the time parameter `since`: its newest sample with a figure (a host that did not answer
 * has none), or the newest sample of a VM it runs (and that is not down), whichever is later; NULL:
 * nothing heard. `cluster`: a parameter naming one cluster, or null for every host. The VMs are
 * read in one pass grouped by host (a lookup per host reads the VMs' dead row versions again and again).
 */
export function hostsLastHeardSql(since: string, cluster: string | null): string {
  const only = (column: string) => (cluster === null ? 'true' : `${column} = ${cluster}`);
  return `
    WITH vh AS MATERIALIZED (
      SELECT v.host_id, max(s.last_sample_at) AS at FROM vms v JOIN metric_series s ON s.vm_id = v.id
      WHERE ${only('v.cluster_id')} AND v.down_since IS NULL GROUP BY v.host_id)
    SELECT h.cluster_id, h.id, h.state, greatest(
      (SELECT x.at FROM metric_series s JOIN metric_samples x ON x.series_id = s.id
       WHERE s.host_id = h.id AND x.at >= ${since} AND (x.cpu_mhz IS NOT NULL OR x.memory_mb IS NOT NULL)
       ORDER BY x.at DESC LIMIT 1),
      vh.at) AS at
    FROM hosts h LEFT JOIN vh ON vh.host_id = h.id
    WHERE ${only('h.cluster_id')}`;
}

const HOSTS_LAST_HEARD_SQL = `SELECT id AS "hostId", at AS "lastHeardAt" FROM (${hostsLastHeardSql('$2', '$1')}) heard ORDER BY id`;

/** A measured VM of a cluster, with its series and the demand it was configured with. */
export interface VmMember {
  seriesId: number;
  id: string;
  hostId: string;
  vcpus: number;
  memoryMb: number;
  powerState: string;
  baselineCpuMhz: number;
  baselineMemoryMb: number;
  lastSampleAt: Date | null;
}

export interface HostMember {
  seriesId: number;
  id: string;
  cpuCapacityMhz: number;
  memoryCapacityMb: number;
  /** libvirt URI, for the libvirt source. */
  connectionUri: string | null;
  lastSampleAt: Date | null;
}

/** A VM of a cluster as its load counts: where it runs, its (smoothed) demand and its newest sample's time. */
export interface VmLoad {
  id: string;
  hostId: string;
  powerState: PowerState;
  cpuDemandMhz: number;
  memoryActiveMb: number;
  /** null: never measured. */
  lastSampleAt: Date | null;
}

export type SubjectKind = 'vm' | 'host';

/**
 * `metric_series`: the small integer id each measured VM and host gets, so that a sample row
 * carries 4 bytes of identity instead of a text id. A VM's series also keeps the demand the VM
 * was configured with when it was first measured (the centre of the simulated source), apart from
 * the smoothed demand the collector writes into the inventory. A series goes with its VM or host.
 */
@Injectable()
export class SeriesRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /** Gives every VM and host of the cluster that has none its series. */
  async ensureForCluster(manager: EntityManager, clusterId: string): Promise<void> {
    await manager.query(
      `INSERT INTO metric_series (vm_id, baseline_cpu_mhz, baseline_memory_mb)
       SELECT v.id, v.cpu_demand_mhz, v.memory_active_mb FROM vms v
       WHERE v.cluster_id = $1 AND NOT EXISTS (SELECT 1 FROM metric_series s WHERE s.vm_id = v.id)
       ORDER BY v.id
       ON CONFLICT DO NOTHING`,
      [clusterId],
    );
    await manager.query(
      `INSERT INTO metric_series (host_id)
       SELECT h.id FROM hosts h
       WHERE h.cluster_id = $1 AND NOT EXISTS (SELECT 1 FROM metric_series s WHERE s.host_id = h.id)
       ORDER BY h.id
       ON CONFLICT DO NOTHING`,
      [clusterId],
    );
  }

  async vmsOf(manager: EntityManager, clusterId: string): Promise<VmMember[]> {
    return manager.query(
      `SELECT s.id AS "seriesId", v.id, v.host_id AS "hostId", v.vcpus, v.memory_mb AS "memoryMb", v.power_state AS "powerState",
              s.baseline_cpu_mhz AS "baselineCpuMhz", s.baseline_memory_mb AS "baselineMemoryMb", s.last_sample_at AS "lastSampleAt"
       FROM vms v JOIN metric_series s ON s.vm_id = v.id WHERE v.cluster_id = $1 ORDER BY v.id`,
      [clusterId],
    );
  }

  /** Every VM of the cluster (measured or not) with the figures of its load, by id. */
  async loadOf(manager: EntityManager, clusterId: string): Promise<VmLoad[]> {
    return manager.query(
      `SELECT v.id, v.host_id AS "hostId", v.power_state AS "powerState", v.cpu_demand_mhz AS "cpuDemandMhz",
              v.memory_active_mb AS "memoryActiveMb", s.last_sample_at AS "lastSampleAt"
       FROM vms v LEFT JOIN metric_series s ON s.vm_id = v.id WHERE v.cluster_id = $1 ORDER BY v.id`,
      [clusterId],
    );
  }

  /**
   * When the metrics source last heard of each host of the cluster: its newest sample with a figure
   * (a host that did not answer has none) since `since`, or the newest sample of a VM it runs,
   * whichever is later; null: nothing heard. Failed-host detection reads it (src/closedloop/host-failure.ts).
   */
  async hostsLastHeard(manager: EntityManager, clusterId: string, since: Date): Promise<{ hostId: string; lastHeardAt: Date | null }[]> {
    // Prepared: every evaluation asks, and planning this statement costs about three times running it.
    return queryPrepared(manager, 'ballast-hosts-last-heard', HOSTS_LAST_HEARD_SQL, [clusterId, since]);
  }

  /** The cluster's measured hosts; `connectedOnly`: those that count for the imbalance. */
  async hostsOf(manager: EntityManager, clusterId: string, connectedOnly = false): Promise<HostMember[]> {
    return manager.query(
      `SELECT s.id AS "seriesId", h.id, h.cpu_capacity_mhz AS "cpuCapacityMhz", h.memory_capacity_mb AS "memoryCapacityMb",
              h.connection_uri AS "connectionUri", s.last_sample_at AS "lastSampleAt"
       FROM hosts h JOIN metric_series s ON s.host_id = h.id
       WHERE h.cluster_id = $1 AND (NOT $2 OR h.state = 'connected') ORDER BY h.id`,
      [clusterId, connectedOnly],
    );
  }

  /**
   * The series of the given VM or host ids: `series` for those that have one, `unmeasured` for
   * those that exist without one yet, `unknown` for ids that name no VM (or host). Creates nothing.
   */
  async lookup(kind: SubjectKind, ids: readonly string[], manager: EntityManager = this.db.manager): Promise<{ series: Map<string, number>; unmeasured: string[]; unknown: string[] }> {
    const table = kind === 'vm' ? 'vms' : 'hosts';
    const column = kind === 'vm' ? 'vm_id' : 'host_id';
    const rows: { subject: string; id: number | null }[] = ids.length === 0 ? [] : await manager.query(
      `SELECT t.id AS subject, s.id FROM ${table} t LEFT JOIN metric_series s ON s.${column} = t.id WHERE t.id = ANY($1)`,
      [ids],
    );
    const series = new Map<string, number>();
    const unmeasured: string[] = [];
    for (const r of rows) {
      if (r.id === null) unmeasured.push(r.subject);
      else series.set(r.subject, r.id);
    }
    const found = new Set(rows.map((r) => r.subject));
    return { series, unmeasured, unknown: ids.filter((id) => !found.has(id)) };
  }

  /** Creates the series of VMs or hosts that have none (a VM's baseline is its demand now); returns all their ids. */
  async create(kind: SubjectKind, ids: readonly string[], manager: EntityManager = this.db.manager): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    if (kind === 'vm') {
      await manager.query(
        `INSERT INTO metric_series (vm_id, baseline_cpu_mhz, baseline_memory_mb)
         SELECT id, cpu_demand_mhz, memory_active_mb FROM vms WHERE id = ANY($1) ORDER BY id ON CONFLICT DO NOTHING`,
        [ids],
      );
    } else {
      await manager.query(`INSERT INTO metric_series (host_id) SELECT id FROM hosts WHERE id = ANY($1) ORDER BY id ON CONFLICT DO NOTHING`, [ids]);
    }
    return (await this.lookup(kind, ids, manager)).series;
  }

  /** The series of one VM or host (null: never measured), with its last sample's time. */
  async find(kind: SubjectKind, id: string): Promise<{ seriesId: number; lastSampleAt: Date | null } | null> {
    const column = kind === 'vm' ? 'vm_id' : 'host_id';
    const [row] = await this.db.query(`SELECT id AS "seriesId", last_sample_at AS "lastSampleAt" FROM metric_series WHERE ${column} = $1`, [id]);
    return row ?? null;
  }

  /** Records the newest sample of each series (series absent from the lists keep theirs). */
  async setLastSampleAt(manager: EntityManager, seriesIds: readonly number[], at: readonly number[]): Promise<void> {
    if (seriesIds.length === 0) return;
    await manager.query(
      `UPDATE metric_series s SET last_sample_at = to_timestamp(u.at / 1000.0)
       FROM unnest($1::int[], $2::float8[]) AS u(id, at)
       WHERE s.id = u.id AND s.last_sample_at IS DISTINCT FROM to_timestamp(u.at / 1000.0)`,
      [seriesIds, at],
    );
  }
}
