import { Global, Module } from '@nestjs/common';
import { NotificationsService } from './notifications.service.js';
import { WebhookDelivery } from './webhook-delivery.js';
import { WebhooksController } from './webhooks.controller.js';
import { WebhooksRepository } from './webhooks.repository.js';

/** Webhooks and the outbox; global, so that any module can `notify` without importing this one. */
@Global()
@Module({
  controllers: [WebhooksController],
  providers: [NotificationsService, WebhookDelivery, WebhooksRepository],
  exports: [NotificationsService],
})
export class NotificationsModule {}
