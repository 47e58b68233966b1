import { Module } from '@nestjs/common';
import { MigrationsModule } from '../migrations/migrations.module.js';
import { DashboardController } from './dashboard.controller.js';
import { EventsController } from './events.controller.js';
import { LiveEvents } from './live-events.js';
import { SessionController } from './session.controller.js';

@Module({
  imports: [MigrationsModule],
  controllers: [DashboardController, EventsController, SessionController],
  providers: [LiveEvents],
})
export class DashboardModule {}
