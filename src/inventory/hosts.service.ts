import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager, FindOptionsWhere } from 'typeorm';
import { badRequest, conflict, notFound } from '../common/http-errors.js';
import type { Page } from '../common/query-params.js';
import { parseOrBadRequest } from '../common/parse-body.pipe.js';
import { PG_UNIQUE_VIOLATION, pgErrorCode } from '../database/pg-errors.js';
import type { HostState, SnapshotHost } from '../planner/snapshot.js';
import { HOST_FIELDS, parseHost } from '../planner/validate-snapshot.js';
import { capacityShrinkProblems, hostLoad } from '../planner/host-capacity.js';
import { LibvirtInventoryReader } from '../engine/libvirt/inventory-reader.js';
import { HostEntity } from './entities/host.entity.js';
import { parseItemUpdate } from './item-body.js';
import { VmEntity } from './entities/vm.entity.js';
import { hostRow, hostToFormat } from './format-mapping.js';
import { ClustersService } from './clusters.service.js';
import { MIGRATIONS_IN_PROGRESS, type MigrationsInProgress } from './migrations-in-progress.js';

export type HostView = SnapshotHost & { clusterId: string };

export interface HostFilter {
  clusterId?: string;
  state?: HostState;
  compatibilityGroup?: string;
}

export function hostView(host: HostEntity): HostView {
  return { clusterId: host.clusterId, ...hostToFormat(host) };
}

@Injectable()
export class HostsService {
  private readonly libvirt = new LibvirtInventoryReader();

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly clusters: ClustersService,
    @Inject(MIGRATIONS_IN_PROGRESS) private readonly migrations: MigrationsInProgress,
  ) {}

  async list(filter: HostFilter, page: { limit: number; offset: number }): Promise<Page<HostView>> {
    const where: FindOptionsWhere<HostEntity> = {};
    if (filter.clusterId) where.clusterId = filter.clusterId;
    if (filter.state) where.state = filter.state;
    if (filter.compatibilityGroup) where.compatibilityGroup = filter.compatibilityGroup;
    const [hosts, total] = await this.db.getRepository(HostEntity).findAndCount({
      where,
      order: { id: 'ASC' },
      take: page.limit,
      skip: page.offset,
    });
    return { items: hosts.map(hostView), total, ...page };
  }

  find(id: string, manager: EntityManager = this.db.manager): Promise<HostEntity | null> {
    return manager.findOneBy(HostEntity, { id });
  }

  async require(id: string, manager: EntityManager = this.db.manager): Promise<HostEntity> {
    const host = await this.find(id, manager);
    if (!host) throw notFound('host', id);
    return host;
  }

  async get(id: string): Promise<HostView> {
    return hostView(await this.require(id));
  }

  async create(clusterId: string, host: SnapshotHost, discoverCapacity = false): Promise<HostView> {
    if (discoverCapacity) host = { ...host, ...(await this.capacityFromLibvirt(host)) };
    await this.db.transaction(async (manager) => {
      const cluster = await this.clusters.find(clusterId, manager, true);
      if (!cluster) throw badRequest('body.clusterId', `unknown cluster "${clusterId}"`);
      try {
        await manager.insert(HostEntity, hostRow(clusterId, host));
      } catch (error) {
        if (pgErrorCode(error) === PG_UNIQUE_VIOLATION) throw conflict(`host "${host.id}" already exists`);
        throw error;
      }
    });
    return this.get(host.id);
  }

  private async capacityFromLibvirt(host: SnapshotHost): Promise<Pick<SnapshotHost, 'cpuCapacityMhz' | 'memoryCapacityMb'>> {
    try {
      const node = await this.libvirt.node({ hostId: host.id, uri: host.connectionUri! });
      return { cpuCapacityMhz: node.cpus * node.mhz, memoryCapacityMb: Math.round(node.memoryMb) };
    } catch (error) {
      throw badRequest('body.connectionUri', `cannot read the capacity from libvirt (give cpuCapacityMhz and memoryCapacityMb, or fix the connection): ${(error as Error).message}`);
    }
  }

  /**
   * A partial update: the body's fields replace the host's, the result is checked as a whole; its
   * cluster stays. A capacity lowered below what the host's VMs take is refused (409) unless `force`.
   */
  async update(id: string, body: unknown, force = false): Promise<HostView> {
    await this.db.transaction(async (manager) => {
      const host = await this.require(id, manager);
      const next = parseOrBadRequest(() => parseItemUpdate(hostToFormat(host), body, HOST_FIELDS, parseHost));
      const maintenance: HostState[] = ['entering-maintenance', 'maintenance'];
      if (next.state !== host.state && (maintenance.includes(next.state) || maintenance.includes(host.state))) {
        throw conflict(`host "${id}" enters and leaves maintenance through POST and DELETE /api/v1/hosts/${id}/maintenance`);
      }
      if (!force) await this.refuseShrinkBelowLoad(manager, host, next);
      await manager.save(HostEntity, { ...host, ...hostRow(host.clusterId, next) });
    });
    return this.get(id);
  }

  private async refuseShrinkBelowLoad(manager: EntityManager, host: HostEntity, next: SnapshotHost): Promise<void> {
    if (next.memoryCapacityMb >= host.memoryCapacityMb && next.cpuCapacityMhz >= host.cpuCapacityMhz) return;
    const cluster = await this.clusters.require(host.clusterId, manager, true);
    const vms = await manager.find(VmEntity, { where: { hostId: host.id }, select: { memoryMb: true, cpuDemandMhz: true, powerState: true } });
    const problems = capacityShrinkProblems(host, next, hostLoad(vms), cluster.policy);
    if (problems.length === 0) return;
    const words = problems.map((p) => `${p.field} ${next[p.field as 'memoryCapacityMb' | 'cpuCapacityMhz']} is below what host "${host.id}" holds: ${p.reason}`);
    throw conflict(`${words.join('; ')}; move VMs off first, or change it with ?force=true`, {
      needs: Object.fromEntries(problems.map((p) => [p.field, p.needs])),
    });
  }

  async remove(id: string): Promise<void> {
    await this.db.transaction(async (manager) => {
      const host = await this.require(id, manager);
      const active = await this.migrations.firstOfHost(manager, id);
      if (active) throw conflict(`host "${id}" takes part in migration ${active.id} (VM ${active.vmId}); it cannot be deleted until it ends`);
      const vmCount = await manager.countBy(VmEntity, { hostId: id });
      if (vmCount > 0) throw conflict(`host "${id}" still has ${vmCount} VMs; move or delete them first`);
      const rules: { id: string }[] = await manager.query(`SELECT id FROM rules WHERE $1 = ANY(host_ids) ORDER BY id`, [id]);
      if (rules.length > 0) {
        throw conflict(`host "${id}" is named by rules ${rules.map((r) => `"${r.id}"`).join(', ')}; edit them first`);
      }
      await manager.delete(HostEntity, { id: host.id });
    });
  }
}
