import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { InjectDataSource } from '@nestjs/typeorm';
import { In, IsNull, Not, type DataSource, type EntityManager } from 'typeorm';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { notFound } from '../common/http-errors.js';
import type { HostConnection } from '../engine/libvirt/host-connections.js';
import { DomainDefinitions } from '../engine/libvirt/domain-definitions.js';
import { LibvirtInventoryReader, type DiscoveredDomain, type DiscoveredHost } from '../engine/libvirt/inventory-reader.js';
import { ClusterEntity } from '../inventory/entities/cluster.entity.js';
import { HostEntity } from '../inventory/entities/host.entity.js';
import { VmEntity } from '../inventory/entities/vm.entity.js';
import { MigrationsRepository } from '../migrations/migrations.repository.js';
import type { PowerState } from '../planner/snapshot.js';
import { every } from '../scheduler/every.js';

export interface DiscoveryAnswer {
  clusterId: string;
  /** The connected hosts that answered, with what was found there. */
  hosts: { hostId: string; cpuCapacityMhz: number; memoryCapacityMb: number; domains: number }[];
  added: string[];
  updated: string[];
  /** Found on another host than recorded: someone migrated them outside Ballast. */
  moved: { vmId: string; fromHostId: string; toHostId: string }[];
  /** On no host any more (kept, marked missing and off). */
  missing: string[];
  /** Left alone: one of Ballast's own migrations of the VM is in flight (or ended while discovery read). */
  skipped: { vmId: string; reason: string }[];
  /** Hosts that did not answer: which host, which URI, what libvirt said. */
  unreachable: { hostId: string; uri: string; error: string }[];
}

/** Which copy of a domain found on several hosts is the VM (an outside migration in progress, a stale definition). */
const STATE_RANK: Record<string, number> = { running: 0, paused: 1, 'in shutdown': 2, 'shut off': 3 };

/**
 * Discovery: what each connected host of a cluster really has (capacity from nodeinfo, its pools and
 * networks, its domains) written into the inventory. New domains become VMs, changed ones are
 * updated, one found on another host than recorded is moved there, one found nowhere is marked
 * missing. A VM Ballast itself is moving is never touched.
 */
@Injectable()
export class DiscoveryService implements OnApplicationBootstrap {
  private readonly logger = new Logger(DiscoveryService.name);
  private readonly reader = new LibvirtInventoryReader();
  private readonly definitions = new DomainDefinitions();
  /** Domains whose definition this process has kept: UUID -> what it was kept from (host, size, disks, NICs). */
  private readonly kept = new Map<string, string>();

  constructor(
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
    @InjectDataSource() private readonly db: DataSource,
    private readonly registry: SchedulerRegistry,
    private readonly migrations: MigrationsRepository,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.BALLAST_ROLES.has('scheduler') || this.config.DISCOVERY_INTERVAL_SECONDS === 0) return;
    every(this.registry, this.logger, 'discovery', this.config.DISCOVERY_INTERVAL_SECONDS * 1000, () => this.discoverAll());
  }

  async discoverAll(): Promise<void> {
    const clusters: { cluster_id: string }[] = await this.db.query(`SELECT DISTINCT cluster_id FROM hosts WHERE connection_uri IS NOT NULL ORDER BY cluster_id`);
    for (const { cluster_id: clusterId } of clusters) {
      const answer = await this.discover(clusterId).catch((error: Error) => this.logger.error(`discovery of ${clusterId}: ${error.message}`));
      if (!answer) continue;
      const changes = answer.added.length + answer.updated.length + answer.moved.length + answer.missing.length;
      if (changes > 0) this.logger.log(`discovery of ${clusterId}: ${answer.added.length} added, ${answer.updated.length} updated, ${answer.moved.length} moved, ${answer.missing.length} missing`);
      for (const host of answer.unreachable) this.logger.warn(`discovery of ${clusterId}: host ${host.hostId} (${host.uri}): ${host.error}`);
    }
  }

  async discover(clusterId: string): Promise<DiscoveryAnswer> {
    if (!(await this.db.getRepository(ClusterEntity).existsBy({ id: clusterId }))) throw notFound('cluster', clusterId);
    const startedAt = new Date(Date.now() - 1000);
    const hosts = await this.db.getRepository(HostEntity).find({ where: { clusterId, connectionUri: Not(IsNull()) }, order: { id: 'ASC' } });
    const answer: DiscoveryAnswer = { clusterId, hosts: [], added: [], updated: [], moved: [], missing: [], skipped: [], unreachable: [] };
    const found = new Map<string, DiscoveredHost>();
    await Promise.all(
      hosts.map(async (host) => {
        const connection: HostConnection = { hostId: host.id, uri: host.connectionUri!, migrationAddress: host.migrationAddress };
        try {
          found.set(host.id, await this.reader.read(connection));
        } catch (error) {
          answer.unreachable.push({ hostId: host.id, uri: host.connectionUri!, error: (error as Error).message });
        }
      }),
    );
    answer.unreachable.sort((a, b) => a.hostId.localeCompare(b.hostId));
    const located = locate(found);
    await this.db.transaction(async (manager) => {
      for (const host of hosts.filter((h) => found.has(h.id))) await this.recordHost(manager, host, found.get(host.id)!, answer);
      await this.recordVms(manager, clusterId, hosts, located, startedAt, answer);
    });
    await this.keepDefinitions(hosts, located);
    return answer;
  }

  /**
   * HA restarts a domain on another host from its definition: the one of its own host is gone with
   * it, so a copy is kept in its datastore (see DomainDefinitions) for every domain found, once per
   * process and again when it changed (the engine also keeps one after every migration).
   */
  private async keepDefinitions(hosts: HostEntity[], located: Located): Promise<void> {
    const byId = new Map(hosts.map((h) => [h.id, h]));
    // From the copy that is the VM (not a stale definition left on another host).
    for (const { hostId, domain } of located.values()) {
      const host = byId.get(hostId)!;
      const version = JSON.stringify([hostId, domain.vcpus, domain.memoryMb, domain.datastores, domain.networks, domain.macAddresses]);
      if (this.kept.get(domain.id) === version) continue;
      try {
        await this.definitions.keep({ hostId, uri: host.connectionUri!, migrationAddress: host.migrationAddress }, domain);
        this.kept.set(domain.id, version);
      } catch (error) {
        this.logger.warn(`keeping the definition of ${domain.id} (${domain.name}) from host ${hostId}: ${(error as Error).message}`);
      }
    }
  }

  private async recordHost(manager: EntityManager, host: HostEntity, discovered: DiscoveredHost, answer: DiscoveryAnswer): Promise<void> {
    const cpuCapacityMhz = discovered.node.cpus * discovered.node.mhz;
    const memoryCapacityMb = Math.round(discovered.node.memoryMb);
    const networks = union(discovered.networks, discovered.domains.flatMap((d) => d.networks));
    const datastores = union(discovered.pools, discovered.domains.flatMap((d) => d.datastores));
    await manager.update(HostEntity, { id: host.id }, { cpuCapacityMhz, memoryCapacityMb, networks, datastores });
    answer.hosts.push({ hostId: host.id, cpuCapacityMhz, memoryCapacityMb, domains: discovered.domains.length });
  }

  private async recordVms(manager: EntityManager, clusterId: string, hosts: HostEntity[], located: Located, startedAt: Date, answer: DiscoveryAnswer): Promise<void> {
    const busy = await this.migrations.vmsMovingSince(manager, clusterId, startedAt);
    const connectedHosts = hosts.map((h) => h.id);
    const where = [{ clusterId, hostId: In(connectedHosts) }, ...(located.size > 0 ? [{ id: In([...located.keys()]) }] : [])];
    const known = connectedHosts.length > 0 ? await manager.find(VmEntity, { where, lock: { mode: 'pessimistic_write' } }) : [];
    const byId = new Map(known.map((vm) => [vm.id, vm]));
    for (const [vmId, { hostId, domain }] of [...located].sort(([a], [b]) => a.localeCompare(b))) {
      if (busy.has(vmId)) {
        answer.skipped.push({ vmId, reason: 'a Ballast migration of this VM is in flight' });
        continue;
      }
      const vm = byId.get(vmId);
      const seen = {
        name: domain.name,
        vcpus: domain.vcpus,
        memoryMb: domain.memoryMb,
        powerState: powerStateOf(domain.state),
        networks: domain.networks,
        datastores: domain.datastores,
        macAddresses: domain.macAddresses,
      };
      if (!vm) {
        await manager.insert(VmEntity, {
          id: vmId, clusterId, hostId, ...seen,
          // Until the metrics source measures it: no CPU demand, all of its memory in use.
          cpuDemandMhz: 0, memoryActiveMb: domain.memoryMb, automationLevel: null, restartPriority: null, compatibilityGroup: null, memoryDirtyRateMbps: null, lastMigratedAt: null, missingSince: null, downSince: null,
        });
        answer.added.push(vmId);
        continue;
      }
      const changed = vm.missingSince !== null || vm.clusterId !== clusterId || (Object.keys(seen) as (keyof typeof seen)[]).some((key) => !same(vm[key], seen[key]));
      if (vm.hostId !== hostId || vm.clusterId !== clusterId) answer.moved.push({ vmId, fromHostId: vm.hostId, toHostId: hostId });
      else if (changed) answer.updated.push(vmId);
      if (changed || vm.hostId !== hostId) await manager.update(VmEntity, { id: vmId }, { ...seen, hostId, clusterId, missingSince: null });
    }
    // Gone from every host: only when every connected host answered (it may run on one that did not).
    if (answer.unreachable.length > 0) return;
    for (const vm of known) {
      if (located.has(vm.id) || vm.clusterId !== clusterId || vm.missingSince !== null) continue;
      if (busy.has(vm.id)) {
        answer.skipped.push({ vmId: vm.id, reason: 'a Ballast migration of this VM is in flight' });
        continue;
      }
      await manager.update(VmEntity, { id: vm.id }, { missingSince: new Date(), powerState: 'off' });
      answer.missing.push(vm.id);
    }
  }
}

/** Where each domain is: its best copy over every host that answered. */
type Located = Map<string, { hostId: string; domain: DiscoveredDomain }>;

function locate(found: Map<string, DiscoveredHost>): Located {
  const located: Located = new Map();
  for (const [hostId, discovered] of found) {
    for (const domain of discovered.domains) {
      const current = located.get(domain.id);
      if (!current || rank(domain.state) < rank(current.domain.state)) located.set(domain.id, { hostId, domain });
    }
  }
  return located;
}

function rank(state: string): number {
  return STATE_RANK[state] ?? 4;
}

function powerStateOf(state: string): PowerState {
  return state === 'running' || state === 'paused' ? 'on' : 'off';
}

function union(...lists: string[][]): string[] {
  return [...new Set(lists.flat())].sort();
}

function same(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}
