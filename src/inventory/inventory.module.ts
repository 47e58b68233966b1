import { Module } from '@nestjs/common';
import { ClustersController } from './clusters.controller.js';
import { ClustersService } from './clusters.service.js';
import { HostsController } from './hosts.controller.js';
import { HostsService } from './hosts.service.js';
import { RulesController } from './rules.controller.js';
import { RulesService } from './rules.service.js';
import { SnapshotsService } from './snapshots.service.js';
import { VmsController } from './vms.controller.js';
import { VmsService } from './vms.service.js';

@Module({
  controllers: [ClustersController, HostsController, VmsController, RulesController],
  providers: [ClustersService, HostsService, VmsService, RulesService, SnapshotsService],
  exports: [ClustersService, HostsService, VmsService, RulesService, SnapshotsService],
})
export class InventoryModule {}
