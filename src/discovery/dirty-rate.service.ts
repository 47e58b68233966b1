import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { InjectDataSource } from '@nestjs/typeorm';
import { In, IsNull, Not, type DataSource } from 'typeorm';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { measureDirtyRates } from '../engine/libvirt/inventory-reader.js';
import { Virsh } from '../engine/libvirt/virsh.js';
import { ClustersService } from '../inventory/clusters.service.js';
import { ClusterEntity } from '../inventory/entities/cluster.entity.js';
import { HostEntity } from '../inventory/entities/host.entity.js';
import { VmEntity } from '../inventory/entities/vm.entity.js';
import { VmsService } from '../inventory/vms.service.js';
import { every } from '../scheduler/every.js';

/** MiB/s as the planner's Mb/s (its memory figures are MiB). */
const MBPS_PER_MIBPS = 8;

/**
 * The memory dirty rate of the running VMs of clusters measured by libvirt (`metricsSource:
 * libvirt`), on its own slower schedule (LIBVIRT_DIRTY_RATE_INTERVAL_SECONDS): libvirt samples the
 * guest's pages for a second, and the rate goes into the VM's `memoryDirtyRateMbps`, which the
 * planner's pre-copy cost model reads to predict a migration's time and downtime.
 */
@Injectable()
export class DirtyRateService implements OnApplicationBootstrap {
  private readonly logger = new Logger(DirtyRateService.name);
  private readonly virsh = new Virsh();

  constructor(
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
    @InjectDataSource() private readonly db: DataSource,
    private readonly registry: SchedulerRegistry,
    private readonly clusters: ClustersService,
    private readonly vms: VmsService,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.BALLAST_ROLES.has('scheduler') || this.config.LIBVIRT_DIRTY_RATE_INTERVAL_SECONDS === 0) return;
    every(this.registry, this.logger, 'dirty-rate', this.config.LIBVIRT_DIRTY_RATE_INTERVAL_SECONDS * 1000, async () => {
      for (const cluster of await this.db.getRepository(ClusterEntity).find({ order: { id: 'ASC' } })) {
        if (this.clusters.metricsSourceOf(cluster) === 'libvirt') await this.measure(cluster.id);
      }
    });
  }

  /** Measures the cluster's running VMs on its connected hosts now; returns the rates written (Mb/s by VM). */
  async measure(clusterId: string): Promise<Map<string, number>> {
    const hosts = await this.db.getRepository(HostEntity).find({ where: { clusterId, connectionUri: Not(IsNull()) } });
    const running = await this.db.getRepository(VmEntity).find({ select: { id: true, hostId: true }, where: { hostId: In(hosts.map((h) => h.id)), powerState: 'on' } });
    const written = new Map<string, number>();
    await Promise.all(
      hosts.map(async (host) => {
        const ids = running.filter((vm) => vm.hostId === host.id).map((vm) => vm.id);
        if (ids.length === 0) return;
        try {
          const rates = await measureDirtyRates(this.virsh, { hostId: host.id, uri: host.connectionUri! }, ids);
          for (const [id, mibps] of rates) written.set(id, mibps * MBPS_PER_MIBPS);
        } catch (error) {
          this.logger.warn(`dirty rate on host ${host.id}: ${(error as Error).message}`);
        }
      }),
    );
    await this.vms.setMeasuredDirtyRate(this.db.manager, { ids: [...written.keys()], mbps: [...written.values()] });
    return written;
  }
}
