import { Module } from '@nestjs/common';
import { InventoryModule } from '../inventory/inventory.module.js';
import { MaintenanceModule } from '../maintenance/maintenance.module.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { MigrationsModule } from '../migrations/migrations.module.js';
import { PlansModule } from '../plans/plans.module.js';
import { CLOCK, systemClock, type Clock } from './clock.js';
import { EvaluationScheduler } from './evaluation-scheduler.js';
import { EvaluationService } from './evaluation.service.js';
import { EvaluationsRepository } from './evaluations.repository.js';
import { HostHealthController } from './host-health.controller.js';
import { HaService } from './ha.service.js';
import { HostHealthService } from './host-health.service.js';
import { IncidentsController } from './incidents.controller.js';
import { IncidentsRepository } from './incidents.repository.js';
import { IncidentsService } from './incidents.service.js';

/** The closed loop: evaluations of every cluster on its schedule and on detection events. */
@Module({
  imports: [InventoryModule, MigrationsModule, PlansModule, MaintenanceModule, MetricsModule],
  controllers: [HostHealthController, IncidentsController],
  providers: [{ provide: CLOCK, useFactory: (): Clock => ({ now: systemClock.now }) }, EvaluationsRepository, EvaluationService, EvaluationScheduler, HostHealthService, HaService, IncidentsRepository, IncidentsService],
  exports: [CLOCK, EvaluationsRepository, IncidentsRepository, EvaluationService, EvaluationScheduler],
})
export class ClosedLoopModule {}
