import { Module } from '@nestjs/common';
import { InventoryModule } from '../inventory/inventory.module.js';
import { DemoService } from './demo.service.js';

@Module({ imports: [InventoryModule], providers: [DemoService], exports: [DemoService] })
export class DemoModule {}
