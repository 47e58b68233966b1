import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { conflict, notFound } from '../common/http-errors.js';
import { bulkInsert } from '../database/bulk-insert.js';
import type { Snapshot, SnapshotHost } from '../planner/snapshot.js';
import { findRuleConflicts, type RuleConflict } from '../planner/rule-conflicts.js';
import { ClustersService } from './clusters.service.js';
import { ClusterEntity } from './entities/cluster.entity.js';
import { HostEntity } from './entities/host.entity.js';
import { RuleEntity } from './entities/rule.entity.js';
import { VmEntity } from './entities/vm.entity.js';
import { hostRow, hostToFormat, policyToFormat, ruleRow, ruleToFormat, vmRow, vmToFormat } from './format-mapping.js';

type VmFormatRow = Parameters<typeof vmToFormat>[0];

/** The columns of `vms` that the format has, named as VmEntity names them. */
const VM_FORMAT_COLUMNS = [
  'id',
  'host_id AS "hostId"',
  'vcpus',
  'memory_mb AS "memoryMb"',
  'cpu_demand_mhz AS "cpuDemandMhz"',
  'memory_active_mb AS "memoryActiveMb"',
  'power_state AS "powerState"',
  'automation_level AS "automationLevel"',
  'restart_priority AS "restartPriority"',
  'networks',
  'datastores',
  'compatibility_group AS "compatibilityGroup"',
  'memory_dirty_rate_mbps AS "memoryDirtyRateMbps"',
  'disk_mb AS "diskMb"',
  'last_migrated_at AS "lastMigratedAt"',
].join(', ');

export interface ImportResult {
  clusterId: string;
  replaced: boolean;
  hosts: number;
  vms: number;
  rules: number;
  /** Must rules stored disabled (?disabledOnConflict=true) because they contradict a rule before them in the snapshot. */
  disabledRules?: RuleConflict[];
}

@Injectable()
export class SnapshotsService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly clusters: ClustersService,
  ) {}

  /**
   * The cluster as a FORMAT.md snapshot, read in one transaction so that it is consistent: the
   * caller's, or a REPEATABLE READ one of its own.
   */
  async build(clusterId: string, takenAt: Date = new Date(), manager?: EntityManager): Promise<Snapshot> {
    if (!manager) return this.db.transaction('REPEATABLE READ', (own) => this.build(clusterId, takenAt, own));
    const snapshot = await this.buildIfExists(clusterId, takenAt, manager);
    if (!snapshot) throw notFound('cluster', clusterId);
    return snapshot;
  }

  /**
   * As build, in the caller's transaction, or null when the cluster does not exist: a caller that
   * must tell a deleted cluster apart (the closed loop) learns it from this read, not one more.
   */
  async buildIfExists(clusterId: string, takenAt: Date, manager: EntityManager): Promise<Snapshot | null> {
    const cluster = await this.clusters.find(clusterId, manager);
    if (!cluster) return null;
    // One after the other: a transaction's queries share its single connection anyway.
    const hosts = await this.hosts(clusterId, manager);
    // A plain query: hydrating thousands of VM entities costs several times the read itself.
    const vms: VmFormatRow[] = await manager.query(`SELECT ${VM_FORMAT_COLUMNS} FROM vms WHERE cluster_id = $1 ORDER BY id`, [clusterId]);
    // Oldest first: of two must rules in conflict the planner keeps to the older (rule-conflicts.ts).
    const rules = await manager.find(RuleEntity, { where: { clusterId }, order: { createdAt: 'ASC', id: 'ASC' } });
    return {
      version: 1,
      cluster: { id: cluster.id, name: cluster.name },
      takenAt: takenAt.toISOString(),
      policy: policyToFormat(cluster.policy),
      hosts,
      vms: vms.map(vmToFormat),
      rules: rules.map(ruleToFormat),
    };
  }

  /** The cluster's hosts as the format has them, by id. */
  async hosts(clusterId: string, manager: EntityManager = this.db.manager): Promise<SnapshotHost[]> {
    const hosts = await manager.find(HostEntity, { where: { clusterId }, order: { id: 'ASC' } });
    return hosts.map(hostToFormat);
  }

  /**
   * Creates the cluster of a (validated) snapshot in one transaction; with `replace`, an existing
   * cluster of that id is deleted first. Ids are global: a host, VM or rule id used by another
   * cluster is a conflict.
   */
  async import(snapshot: Snapshot, replace: boolean, disabledOnConflict = false): Promise<ImportResult> {
    const clusterId = snapshot.cluster.id;
    const conflicts = findRuleConflicts(snapshot.rules);
    if (conflicts.length > 0 && !disabledOnConflict) {
      const first = conflicts[0];
      const more = conflicts.length > 1 ? ` (and ${conflicts.length - 1} more)` : '';
      throw conflict(
        `rule "${first.ruleId}" conflicts with must rule ${first.conflictsWith.map((id) => `"${id}"`).join(', ')} before it in the snapshot: ${first.reason}${more}; import with ?disabledOnConflict=true to store such rules disabled`,
        { conflicts },
      );
    }
    const disabled = new Set(conflicts.map((c) => c.ruleId));
    const rules = snapshot.rules.map((r) => (disabled.has(r.id) ? { ...r, enabled: false } : r));
    return this.db.transaction(async (manager) => {
      const existing = await this.clusters.find(clusterId, manager, true);
      if (existing && !replace) throw conflict(`cluster "${clusterId}" already exists; import with ?replace=true to replace it`);
      if (existing) await manager.delete(ClusterEntity, { id: clusterId });
      await this.refuseForeignIds(manager, snapshot);
      // A replaced cluster keeps where its load is measured.
      await manager.insert(ClusterEntity, { id: clusterId, name: snapshot.cluster.name, policy: snapshot.policy, metricsSource: existing?.metricsSource ?? null });
      await bulkInsert(manager, HostEntity, snapshot.hosts.map((h) => hostRow(clusterId, h)));
      await bulkInsert(manager, VmEntity, snapshot.vms.map((v) => vmRow(clusterId, v)));
      await bulkInsert(manager, RuleEntity, rules.map((r) => ruleRow(clusterId, r)));
      return {
        clusterId,
        replaced: existing !== null,
        hosts: snapshot.hosts.length,
        vms: snapshot.vms.length,
        rules: snapshot.rules.length,
        ...(conflicts.length > 0 ? { disabledRules: conflicts } : {}),
      };
    });
  }

  private async refuseForeignIds(manager: EntityManager, snapshot: Snapshot): Promise<void> {
    const checks: [string, string, string[]][] = [
      ['hosts', 'host', snapshot.hosts.map((h) => h.id)],
      ['vms', 'VM', snapshot.vms.map((v) => v.id)],
      ['rules', 'rule', snapshot.rules.map((r) => r.id)],
    ];
    for (const [table, kind, ids] of checks) {
      const taken: { id: string; cluster_id: string }[] = await manager.query(
        `SELECT id, cluster_id FROM ${table} WHERE id = ANY($1) ORDER BY id LIMIT 5`,
        [ids],
      );
      if (taken.length > 0) {
        const list = taken.map((t) => `"${t.id}" (cluster "${t.cluster_id}")`).join(', ');
        throw conflict(`${kind} ids already used by another cluster: ${list}`);
      }
    }
  }
}
