import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { MigrationsModule } from '../migrations/migrations.module.js';
import { SchedulerService } from './scheduler.service.js';
import { TimedTasksShutdown } from './timed-tasks-shutdown.js';

@Module({
  imports: [ScheduleModule.forRoot(), MigrationsModule],
  providers: [SchedulerService, TimedTasksShutdown],
  exports: [SchedulerService],
})
export class SchedulerModule {}
