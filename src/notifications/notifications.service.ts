import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { WebhookEvent } from './webhook-events.js';
import { WebhooksRepository } from './webhooks.repository.js';

/**
 * Where Ballast says that something an operator should know about happened. A notification is
 * written to the outbox (one delivery per subscribed webhook); the delivery loop sends it.
 */
@Injectable()
export class NotificationsService {
  private readonly logger = new Logger(NotificationsService.name);

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly webhooks: WebhooksRepository,
  ) {}

  /**
   * Records `event` for every webhook subscribed to it. Pass the transaction that makes the change
   * the event reports, so that both are kept or neither; without one it is written on its own, and
   * a failure to write it is logged, never thrown at the caller.
   */
  async notify(event: WebhookEvent, payload: Record<string, unknown>, manager?: EntityManager): Promise<void> {
    const body = { event, at: new Date().toISOString(), ...payload };
    if (manager) {
      await this.webhooks.enqueue(manager, event, body);
      return;
    }
    try {
      await this.webhooks.enqueue(this.db.manager, event, body);
    } catch (error) {
      this.logger.error({ msg: `could not record the ${event} notification: ${(error as Error).message}`, event });
    }
  }
}
