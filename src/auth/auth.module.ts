import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AccessGuard } from './access.guard.js';
import { ApiKeysRepository } from './api-keys.repository.js';
import { ApiKeysService } from './api-keys.service.js';
import { KeysController } from './keys.controller.js';
import { RateLimits } from './rate-limits.js';

@Module({
  controllers: [KeysController],
  providers: [ApiKeysRepository, ApiKeysService, RateLimits, { provide: APP_GUARD, useClass: AccessGuard }],
  exports: [ApiKeysService],
})
export class AuthModule {}
