import { Module } from '@nestjs/common';
import { InventoryModule } from '../inventory/inventory.module.js';
import { MigrationsModule } from '../migrations/migrations.module.js';
import { PlansModule } from '../plans/plans.module.js';
import { MaintenanceSupervisor } from './maintenance-supervisor.js';
import { MaintenanceController } from './maintenance.controller.js';
import { MaintenanceRepository } from './maintenance.repository.js';
import { MaintenanceService } from './maintenance.service.js';
import { EvacuationMoves } from './evacuation-moves.js';

@Module({
  imports: [InventoryModule, MigrationsModule, PlansModule],
  controllers: [MaintenanceController],
  providers: [EvacuationMoves, MaintenanceRepository, MaintenanceService, MaintenanceSupervisor],
  exports: [MaintenanceService],
})
export class MaintenanceModule {}
