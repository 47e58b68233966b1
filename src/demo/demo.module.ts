import { Module } from '@nestjs/common';
import { DiscoveryModule } from '../discovery/discovery.module.js';
import { InventoryModule } from '../inventory/inventory.module.js';
import { DemoService } from './demo.service.js';

@Module({ imports: [InventoryModule, DiscoveryModule], providers: [DemoService], exports: [DemoService] })
export class DemoModule {}
