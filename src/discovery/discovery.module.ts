import { Module } from '@nestjs/common';
import { InventoryModule } from '../inventory/inventory.module.js';
import { MigrationsModule } from '../migrations/migrations.module.js';
import { DirtyRateService } from './dirty-rate.service.js';
import { DiscoveryController } from './discovery.controller.js';
import { DiscoveryService } from './discovery.service.js';

@Module({
  imports: [MigrationsModule, InventoryModule],
  controllers: [DiscoveryController],
  providers: [DiscoveryService, DirtyRateService],
  exports: [DiscoveryService, DirtyRateService],
})
export class DiscoveryModule {}
