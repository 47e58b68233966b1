import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ClosedLoopModule } from './closedloop/closedloop.module.js';
import { AuditModule } from './audit/audit.module.js';
import { AuthModule } from './auth/auth.module.js';
import { BALLAST_CONFIG, type BallastConfig } from './config/config.js';
import { dataSourceOptions } from './database/data-source.js';
import { DashboardModule } from './dashboard/dashboard.module.js';
import { DemoModule } from './demo/demo.module.js';
import { DiscoveryModule } from './discovery/discovery.module.js';
import { EngineModule } from './engine/engine.module.js';
import { HealthModule } from './health/health.module.js';
import { InventoryModule } from './inventory/inventory.module.js';
import { MIGRATIONS_IN_PROGRESS } from './inventory/migrations-in-progress.js';
import { MaintenanceModule } from './maintenance/maintenance.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { MigrationsModule } from './migrations/migrations.module.js';
import { MigrationsRepository } from './migrations/migrations.repository.js';
import { NotificationsModule } from './notifications/notifications.module.js';
import { PlansModule } from './plans/plans.module.js';
import { PrometheusModule } from './prometheus/prometheus.module.js';
import { RedisModule } from './redis/redis.module.js';
import { SchedulerModule } from './scheduler/scheduler.module.js';
import { StatusModule } from './status/status.module.js';

@Module({})
export class AppModule {
  static forRoot(config: BallastConfig): DynamicModule {
    return {
      module: AppModule,
      global: true,
      imports: [
        // Migrations run before the app starts (src/main.ts); a failing database fails fast, no retry loop.
        TypeOrmModule.forRoot({ ...dataSourceOptions(config.DATABASE_URL), retryAttempts: 0 }),
        RedisModule,
        NotificationsModule,
        AuthModule,
        AuditModule,
        EngineModule,
        HealthModule,
        InventoryModule,
        MigrationsModule,
        PlansModule,
        SchedulerModule,
        ClosedLoopModule,
        MaintenanceModule,
        MetricsModule,
        StatusModule,
        DemoModule,
        DiscoveryModule,
        PrometheusModule,
        DashboardModule,
      ],
      providers: [
        { provide: BALLAST_CONFIG, useValue: config },
        // The inventory's port on migrations, provided by the migrations module (see migrations-in-progress.ts).
        { provide: MIGRATIONS_IN_PROGRESS, useExisting: MigrationsRepository },
      ],
      exports: [BALLAST_CONFIG, MIGRATIONS_IN_PROGRESS],
    };
  }
}
