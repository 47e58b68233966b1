import { Module } from '@nestjs/common';
import { ClosedLoopModule } from '../closedloop/closedloop.module.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { MigrationsModule } from '../migrations/migrations.module.js';
import { BallastMetrics } from './ballast-metrics.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsPort } from './metrics-port.js';
import { ScrapeRepository } from './scrape.repository.js';

@Module({
  imports: [MigrationsModule, MetricsModule, ClosedLoopModule],
  controllers: [MetricsController],
  providers: [BallastMetrics, MetricsPort, ScrapeRepository],
})
export class PrometheusModule {}
