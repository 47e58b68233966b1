import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager, FindOptionsWhere } from 'typeorm';
import { badRequest, conflict, notFound } from '../common/http-errors.js';
import type { Page } from '../common/query-params.js';
import { parseOrBadRequest } from '../common/parse-body.pipe.js';
import { PG_UNIQUE_VIOLATION, pgErrorCode } from '../database/pg-errors.js';
import type { PowerState, SnapshotVm } from '../planner/snapshot.js';
import { parseVm, VM_FIELDS } from '../planner/validate-snapshot.js';
import { VmEntity } from './entities/vm.entity.js';
import { parseItemUpdate } from './item-body.js';
import { vmRow, vmToFormat } from './format-mapping.js';
import { MIGRATIONS_IN_PROGRESS, type MigrationsInProgress } from './migrations-in-progress.js';
import { HostsService } from './hosts.service.js';

/** A VM as the API shows it: its FORMAT.md item, its cluster, and what discovery found (name, MACs, missing). */
export type VmView = SnapshotVm & { clusterId: string; name?: string; macAddresses?: string[]; missingSince?: string; downSince?: string };

export interface VmFilter {
  clusterId?: string;
  hostId?: string;
  powerState?: PowerState;
}

export function vmView(vm: VmEntity): VmView {
  return {
    clusterId: vm.clusterId,
    ...vmToFormat(vm),
    ...(vm.name ? { name: vm.name } : {}),
    ...(vm.macAddresses ? { macAddresses: vm.macAddresses } : {}),
    ...(vm.missingSince ? { missingSince: vm.missingSince.toISOString() } : {}),
    ...(vm.downSince ? { downSince: vm.downSince.toISOString() } : {}),
  };
}

@Injectable()
export class VmsService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly hosts: HostsService,
    @Inject(MIGRATIONS_IN_PROGRESS) private readonly migrations: MigrationsInProgress,
  ) {}

  async list(filter: VmFilter, page: { limit: number; offset: number }): Promise<Page<VmView>> {
    const where: FindOptionsWhere<VmEntity> = {};
    if (filter.clusterId) where.clusterId = filter.clusterId;
    if (filter.hostId) where.hostId = filter.hostId;
    if (filter.powerState) where.powerState = filter.powerState;
    const [vms, total] = await this.db.getRepository(VmEntity).findAndCount({
      where,
      order: { id: 'ASC' },
      take: page.limit,
      skip: page.offset,
    });
    return { items: vms.map(vmView), total, ...page };
  }

  /**
   * Writes measured (smoothed) demand into the inventory the planner reads, in one statement;
   * rows whose figures did not change are left alone.
   */
  async setMeasuredDemand(manager: EntityManager, demand: { ids: string[]; cpuMhz: number[]; memoryMb: number[] }): Promise<void> {
    if (demand.ids.length === 0) return;
    await manager.query(
      `UPDATE vms v SET cpu_demand_mhz = u.cpu, memory_active_mb = u.mem
       FROM unnest($1::text[], $2::float8[], $3::float8[]) AS u(id, cpu, mem)
       WHERE v.id = u.id AND (v.cpu_demand_mhz, v.memory_active_mb) IS DISTINCT FROM (u.cpu, u.mem)`,
      [demand.ids, demand.cpuMhz, demand.memoryMb],
    );
  }

  /** The memory dirty rate libvirt measured, for the planner's pre-copy cost model. */
  async setMeasuredDirtyRate(manager: EntityManager, rates: { ids: string[]; mbps: number[] }): Promise<void> {
    if (rates.ids.length === 0) return;
    await manager.query(
      `UPDATE vms v SET memory_dirty_rate_mbps = u.mbps FROM unnest($1::text[], $2::float8[]) AS u(id, mbps) WHERE v.id = u.id`,
      [rates.ids, rates.mbps],
    );
  }

  /** The powered-on VMs of a host that failed are down from `at` (HA restarts them); returns their ids. */
  async markDown(manager: EntityManager, hostId: string, at: Date): Promise<string[]> {
    const rows: { id: string }[] = await manager.query(
      // In a WITH: TypeORM answers a bare UPDATE ... RETURNING with [rows, count].
      `WITH down AS (UPDATE vms SET down_since = $2, updated_at = now() WHERE host_id = $1 AND power_state = 'on' AND down_since IS NULL RETURNING id)
       SELECT id FROM down`,
      [hostId, at],
    );
    return rows.map((r) => r.id).sort();
  }

  /** The cluster's down VMs, with the host they went down on. */
  async down(manager: EntityManager, clusterId: string): Promise<{ id: string; hostId: string; downSince: Date }[]> {
    return manager.query(`SELECT id, host_id AS "hostId", down_since AS "downSince" FROM vms WHERE cluster_id = $1 AND down_since IS NOT NULL ORDER BY id`, [clusterId]);
  }

  /** The VM runs (again) on this host: the engine says so. */
  async up(manager: EntityManager, vmId: string, hostId: string): Promise<void> {
    await manager.query(`UPDATE vms SET host_id = $2, down_since = NULL, updated_at = now() WHERE id = $1`, [vmId, hostId]);
  }

  async require(id: string, manager: EntityManager = this.db.manager): Promise<VmEntity> {
    const vm = await manager.findOneBy(VmEntity, { id });
    if (!vm) throw notFound('VM', id);
    return vm;
  }

  async get(id: string): Promise<VmView> {
    return vmView(await this.require(id));
  }

  /** The VM's cluster is its host's. */
  async create(vm: SnapshotVm): Promise<VmView> {
    await this.db.transaction(async (manager) => {
      const host = await this.hosts.find(vm.hostId, manager);
      if (!host) throw badRequest('body.hostId', `unknown host "${vm.hostId}"`);
      try {
        await manager.insert(VmEntity, vmRow(host.clusterId, vm));
      } catch (error) {
        if (pgErrorCode(error) === PG_UNIQUE_VIOLATION) throw conflict(`VM "${vm.id}" already exists`);
        throw error;
      }
    });
    return this.get(vm.id);
  }

  /**
   * A partial update: the body's fields replace the VM's, the result is checked as a whole. A new
   * hostId corrects the inventory (the VM was moved outside Ballast); it must be a host of the VM's
   * own cluster.
   */
  async update(id: string, body: unknown): Promise<VmView> {
    await this.db.transaction(async (manager) => {
      const vm = await this.require(id, manager);
      const next = parseOrBadRequest(() => parseItemUpdate(vmToFormat(vm), body, VM_FIELDS, parseVm));
      if (next.hostId !== vm.hostId) {
        await this.refuseWhileMigrating(manager, id, 'moved by hand');
        const host = await this.hosts.find(next.hostId, manager);
        if (!host) throw badRequest('body.hostId', `unknown host "${next.hostId}"`);
        if (host.clusterId !== vm.clusterId) {
          throw conflict(`host "${host.id}" is in cluster "${host.clusterId}", VM "${id}" is in cluster "${vm.clusterId}"`);
        }
      }
      await manager.save(VmEntity, { ...vm, ...vmRow(vm.clusterId, next) });
    });
    return this.get(id);
  }

  async remove(id: string): Promise<void> {
    await this.db.transaction(async (manager) => {
      await this.require(id, manager);
      await this.refuseWhileMigrating(manager, id, 'deleted');
      const rules: { id: string }[] = await manager.query(`SELECT id FROM rules WHERE $1 = ANY(vm_ids) ORDER BY id`, [id]);
      if (rules.length > 0) {
        throw conflict(`VM "${id}" is named by rules ${rules.map((r) => `"${r.id}"`).join(', ')}; remove it from them first`);
      }
      await manager.delete(VmEntity, { id });
    });
  }

  private async refuseWhileMigrating(manager: EntityManager, vmId: string, what: string): Promise<void> {
    const active = await this.migrations.firstOfVm(manager, vmId);
    if (active) throw conflict(`VM "${vmId}" has migration ${active.id} in progress; it cannot be ${what} until it ends`);
  }
}
