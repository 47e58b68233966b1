import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { MigrationsModule } from '../migrations/migrations.module.js';
import { PlansModule } from '../plans/plans.module.js';
import { PlanningRunsRepository } from './planning-runs.repository.js';
import { SchedulerService } from './scheduler.service.js';
import { TimedTasksShutdown } from './timed-tasks-shutdown.js';

@Module({
  imports: [ScheduleModule.forRoot(), MigrationsModule, PlansModule],
  providers: [SchedulerService, PlanningRunsRepository, TimedTasksShutdown],
  exports: [SchedulerService, PlanningRunsRepository],
})
export class SchedulerModule {}
