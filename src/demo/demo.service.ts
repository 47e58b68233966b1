import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { macAddressFor } from '../engine/mac-address.js';
import { MIGRATION_ENGINE, type MigrationEngine } from '../engine/migration-engine.js';
import { QemuEngine } from '../engine/qemu/qemu-engine.js';
import { SimulatedEngine } from '../engine/simulated/simulated-engine.js';
import { ClusterEntity } from '../inventory/entities/cluster.entity.js';
import { SnapshotsService } from '../inventory/snapshots.service.js';
import { demoCluster } from '../scenarios/generate.js';
import type { Snapshot } from '../planner/snapshot.js';
import { labCluster } from './lab-cluster.js';
import { LIBVIRT_LAB_CLUSTER, LibvirtLabDemo } from './libvirt-lab-demo.js';
import { DiscoveryService } from '../discovery/discovery.service.js';
import { ClustersService } from '../inventory/clusters.service.js';
import { HostsService } from '../inventory/hosts.service.js';

/**
 * The demo of `npm start` on an empty database (unless BALLAST_DEMO=false): a simulated cluster of
 * 8 hosts and 150 VMs, or, with the qemu engine, a lab of real QEMU guests started on this machine.
 */
@Injectable()
export class DemoService implements OnApplicationShutdown {
  private readonly logger = new Logger(DemoService.name);
  private startedLab = false;
  private libvirtLab?: LibvirtLabDemo;

  constructor(
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
    @InjectDataSource() private readonly db: DataSource,
    @Inject(MIGRATION_ENGINE) private readonly engine: MigrationEngine,
    private readonly snapshots: SnapshotsService,
    private readonly clusters: ClustersService,
    private readonly hosts: HostsService,
    private readonly discovery: DiscoveryService,
  ) {}

  get snapshot(): Snapshot {
    return this.engine instanceof QemuEngine ? labCluster() : demoCluster();
  }

  /** Imports the demo cluster when the database has none; starts the lab's guests with the qemu engine. */
  async prepare(): Promise<string | null> {
    if (!this.config.BALLAST_DEMO) return null;
    if (this.config.BALLAST_DEMO === 'libvirt-lab') return this.startLibvirtLab();
    const demo = this.snapshot;
    if ((await this.db.getRepository(ClusterEntity).count()) === 0) {
      // An empty inventory: what the simulated world of this Redis prefix remembers is of an earlier
      // database, and a demo VM it places on another host would have every move of it refused.
      if (this.engine instanceof SimulatedEngine) await this.engine.resetWorld();
      try {
        await this.snapshots.import(demo, false);
        this.logger.log(`imported the demo cluster "${demo.cluster.id}" (${demo.hosts.length} hosts, ${demo.vms.length} VMs)`);
      } catch (error) {
        // Another process of this deployment imported it first.
        this.logger.warn(`demo cluster not imported: ${(error as Error).message}`);
      }
    }
    const present = await this.db.getRepository(ClusterEntity).existsBy({ id: demo.cluster.id });
    if (!present) return null;
    if (this.engine instanceof QemuEngine) await this.startLabGuests(demo.cluster.id);
    return demo.cluster.id;
  }

  private async startLabGuests(clusterId: string): Promise<void> {
    const current = await this.snapshots.build(clusterId);
    this.logger.log(`starting ${current.vms.length} QEMU guests of the lab in ${this.config.QEMU_LAB_DIR}...`);
    await this.engine.register(
      current.vms.map((vm) => ({
        vm: { id: vm.id, memoryMb: vm.memoryMb, memoryDirtyRateMbps: vm.memoryDirtyRateMbps, macAddress: macAddressFor(vm.id), datastores: vm.datastores },
        hostId: vm.hostId,
        running: vm.powerState === 'on',
      })),
    );
    this.startedLab = true;
  }

  private async startLibvirtLab(): Promise<string | null> {
    if (this.engine.name !== 'libvirt') this.logger.warn('BALLAST_DEMO=libvirt-lab without MIGRATION_ENGINE=libvirt: discovery and metrics work, migrations do not reach libvirt');
    if (await this.db.getRepository(ClusterEntity).existsBy({ id: LIBVIRT_LAB_CLUSTER })) {
      this.logger.warn(`cluster "${LIBVIRT_LAB_CLUSTER}" exists already (a lab of an earlier run?): delete it to start a fresh lab`);
      return null;
    }
    this.libvirtLab = new LibvirtLabDemo(this.logger);
    return this.libvirtLab.start({ clusters: this.clusters, hosts: this.hosts, discovery: this.discovery });
  }

  /** The lab's guests belong to the demo: they stop with it. */
  async onApplicationShutdown(): Promise<void> {
    await this.libvirtLab?.stop();
    if (this.startedLab && this.engine instanceof QemuEngine) {
      await this.engine.lab.stopAll();
      this.logger.log('stopped the lab\'s QEMU guests');
    }
  }
}
