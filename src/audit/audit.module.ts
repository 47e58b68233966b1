import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { InventoryModule } from '../inventory/inventory.module.js';
import { AuditController } from './audit.controller.js';
import { AuditInterceptor } from './audit.interceptor.js';
import { AuditRepository } from './audit.repository.js';
import { AuditService } from './audit.service.js';
import { AuditRetention } from './audit-retention.js';
import { AuditTrail } from './audit-trail.js';

@Module({
  imports: [AuthModule, InventoryModule],
  controllers: [AuditController],
  // The interceptor is global, set by configureHttpApp after the body is read (the state before an import depends on it).
  providers: [AuditRepository, AuditService, AuditTrail, AuditInterceptor, AuditRetention],
  exports: [AuditTrail, AuditInterceptor],
})
export class AuditModule {}
