import { Module } from '@nestjs/common';
import { InventoryModule } from '../inventory/inventory.module.js';
import { MaintenanceModule } from '../maintenance/maintenance.module.js';
import { MigrationsModule } from '../migrations/migrations.module.js';
import { PlansModule } from '../plans/plans.module.js';
import { CLOCK, systemClock, type Clock } from './clock.js';
import { EvaluationScheduler } from './evaluation-scheduler.js';
import { EvaluationService } from './evaluation.service.js';
import { EvaluationsRepository } from './evaluations.repository.js';
import { HostHealthController } from './host-health.controller.js';
import { HostHealthService } from './host-health.service.js';

/** The closed loop: evaluations of every cluster on its schedule and on detection events. */
@Module({
  imports: [InventoryModule, MigrationsModule, PlansModule, MaintenanceModule],
  controllers: [HostHealthController],
  providers: [{ provide: CLOCK, useFactory: (): Clock => ({ now: systemClock.now }) }, EvaluationsRepository, EvaluationService, EvaluationScheduler, HostHealthService],
  exports: [CLOCK, EvaluationsRepository, EvaluationService, EvaluationScheduler],
})
export class ClosedLoopModule {}
