import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { SIGNATURE_HEADER, sign, TIMESTAMP_HEADER } from './signature.js';
import type { AttemptRecord, DeliveryRow } from './webhooks.repository.js';
import { WebhooksRepository } from './webhooks.repository.js';

const POLL_MS = 500;
const BATCH = 20;
const FIRST_RETRY_MS = 1000;
const LONGEST_RETRY_MS = 5 * 60 * 1000;

/** Exponential backoff from 1 s, capped; null once the attempts are used up. */
export function retryDelayMs(attemptsMade: number, maxAttempts: number): number | null {
  if (attemptsMade >= maxAttempts) return null;
  return Math.min(FIRST_RETRY_MS * 2 ** (attemptsMade - 1), LONGEST_RETRY_MS);
}

/**
 * Sends the outbox's due deliveries, in every scheduler process (claims keep two processes from
 * sending one delivery at once). A 2xx answer delivers; anything else, a timeout or a refused
 * connection is an attempt recorded with its status or error, tried again with backoff until
 * `WEBHOOK_ATTEMPTS` are used up.
 */
@Injectable()
export class WebhookDelivery implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WebhookDelivery.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
    private readonly webhooks: WebhooksRepository,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.BALLAST_ROLES.has('scheduler')) return;
    this.timer = setInterval(() => {
      if (this.running || this.stopped) return;
      this.running = this.deliverDue()
        .then(() => undefined)
        .catch((error: Error) => this.logger.error(`webhook deliveries: ${error.message}`))
        .finally(() => (this.running = null));
    }, POLL_MS);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One pass: sends what is due now; returns how many it tried. */
  async deliverDue(): Promise<number> {
    const due = await this.webhooks.claimDue(BATCH, this.config.WEBHOOK_TIMEOUT_MS * 2 + 5000);
    await Promise.all(due.map((delivery) => this.attempt(delivery)));
    return due.length;
  }

  private async attempt(delivery: DeliveryRow & { url: string; secret: string }): Promise<void> {
    const body = JSON.stringify(delivery.payload);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const started = performance.now();
    let status: number | null = null;
    let error: string | null = null;
    try {
      const response = await fetch(delivery.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'Ballast-Webhooks/1',
          'X-Ballast-Event': delivery.event,
          'X-Ballast-Delivery': delivery.id,
          [TIMESTAMP_HEADER]: timestamp,
          [SIGNATURE_HEADER]: sign(delivery.secret, timestamp, body),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.config.WEBHOOK_TIMEOUT_MS),
      });
      status = response.status;
      await response.body?.cancel();
      if (status < 200 || status > 299) error = `answered ${status}`;
    } catch (e) {
      const cause = (e as Error & { cause?: Error }).cause;
      error = (e as Error).name === 'TimeoutError' ? `no answer in ${this.config.WEBHOOK_TIMEOUT_MS} ms` : (cause?.message ?? (e as Error).message);
    }
    const attempt: AttemptRecord = { at: new Date().toISOString(), status, error, ms: Math.round(performance.now() - started) };
    if (error === null) {
      await this.webhooks.recordAttempt(delivery.id, attempt, { delivered: true });
      return;
    }
    const retryInMs = retryDelayMs(delivery.attempts + 1, this.config.WEBHOOK_ATTEMPTS);
    await this.webhooks.recordAttempt(delivery.id, attempt, { delivered: false, retryInMs });
    if (retryInMs === null) {
      this.logger.warn({ msg: `webhook delivery ${delivery.id} (${delivery.event}) failed after ${delivery.attempts + 1} attempts: ${error}`, webhookId: delivery.webhook_id });
    }
  }
}
