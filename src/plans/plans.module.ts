import { Module } from '@nestjs/common';
import { InventoryModule } from '../inventory/inventory.module.js';
import { MigrationsModule } from '../migrations/migrations.module.js';
import { ManualMigrationController } from './manual-migration.controller.js';
import { ManualMigrationService } from './manual-migration.service.js';
import { PlansController } from './plans.controller.js';
import { PlansService } from './plans.service.js';

@Module({
  imports: [InventoryModule, MigrationsModule],
  controllers: [PlansController, ManualMigrationController],
  providers: [PlansService, ManualMigrationService],
  exports: [PlansService],
})
export class PlansModule {}
