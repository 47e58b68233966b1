import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { DeliveryState, WebhookEvent } from './webhook-events.js';

export interface WebhookRow {
  id: string;
  url: string;
  events: WebhookEvent[];
  secret: string;
  description: string | null;
  created_at: Date;
}

export interface AttemptRecord {
  at: string;
  status: number | null;
  error: string | null;
  ms: number;
}

export interface DeliveryRow {
  id: string;
  webhook_id: string;
  event: WebhookEvent;
  payload: Record<string, unknown>;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: Date;
  last_status: number | null;
  last_error: string | null;
  attempt_log: AttemptRecord[];
  created_at: Date;
  delivered_at: Date | null;
}

/** The SQL of the webhooks and webhook_deliveries tables. */
@Injectable()
export class WebhooksRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async create(url: string, events: WebhookEvent[], secret: string, description: string | null): Promise<WebhookRow> {
    const [row] = await this.db.query(
      `INSERT INTO webhooks (url, events, secret, description) VALUES ($1, $2, $3, $4) RETURNING *`,
      [url, events, secret, description],
    );
    return row;
  }

  async list(limit: number, offset: number): Promise<{ rows: WebhookRow[]; total: number }> {
    const rows = await this.db.query(`SELECT * FROM webhooks ORDER BY created_at, id LIMIT $1 OFFSET $2`, [limit, offset]);
    const [{ total }] = await this.db.query(`SELECT count(*)::int AS total FROM webhooks`);
    return { rows, total };
  }

  async get(id: string): Promise<WebhookRow | null> {
    const [row] = await this.db.query(`SELECT * FROM webhooks WHERE id = $1`, [id]);
    return row ?? null;
  }

  async delete(id: string): Promise<boolean> {
    // TypeORM answers an UPDATE or DELETE with [rows, affected count].
    const [, affected]: [unknown[], number] = await this.db.query(`DELETE FROM webhooks WHERE id = $1`, [id]);
    return affected > 0;
  }

  /** One pending delivery per webhook subscribed to the event, in the caller's transaction. */
  async enqueue(manager: EntityManager, event: WebhookEvent, payload: Record<string, unknown>): Promise<number> {
    const rows: unknown[] = await manager.query(
      `INSERT INTO webhook_deliveries (webhook_id, event, payload, state)
       SELECT id, $1, $2, 'pending' FROM webhooks WHERE $1 = ANY(events) RETURNING id`,
      [event, payload],
    );
    return rows.length;
  }

  /**
   * Claims due deliveries for this process: their next attempt moves `leaseMs` ahead, so a process
   * that dies mid-delivery leaves them to be tried again then, and two processes never send one at once.
   */
  async claimDue(limit: number, leaseMs: number): Promise<(DeliveryRow & { url: string; secret: string })[]> {
    const [rows]: [(DeliveryRow & { url: string; secret: string })[], number] = await this.db.query(
      `WITH due AS (
         SELECT id FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= now()
         ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
       UPDATE webhook_deliveries d SET next_attempt_at = now() + make_interval(secs => $2::float8 / 1000)
       FROM due, webhooks w WHERE d.id = due.id AND w.id = d.webhook_id
       RETURNING d.*, w.url, w.secret`,
      [limit, leaseMs],
    );
    return rows;
  }

  /** Records one attempt: delivered, or pending again after `retryInMs`, or failed when that is null. */
  async recordAttempt(id: string, attempt: AttemptRecord, outcome: { delivered: true } | { delivered: false; retryInMs: number | null }): Promise<void> {
    const state: DeliveryState = outcome.delivered ? 'delivered' : outcome.retryInMs === null ? 'failed' : 'pending';
    const retryInMs = !outcome.delivered && outcome.retryInMs !== null ? outcome.retryInMs : 0;
    await this.db.query(
      `UPDATE webhook_deliveries SET state = $2, attempts = attempts + 1, last_status = $3, last_error = $4,
         attempt_log = attempt_log || $5::jsonb, next_attempt_at = now() + make_interval(secs => $6::float8 / 1000),
         delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE NULL END
       WHERE id = $1`,
      [id, state, attempt.status, attempt.error, JSON.stringify([attempt]), retryInMs],
    );
  }

  async deliveries(webhookId: string, state: DeliveryState | undefined, limit: number, offset: number): Promise<{ rows: DeliveryRow[]; total: number }> {
    const where = `webhook_id = $1 AND ($2::text IS NULL OR state = $2)`;
    const rows = await this.db.query(
      `SELECT * FROM webhook_deliveries WHERE ${where} ORDER BY created_at DESC, id LIMIT $3 OFFSET $4`,
      [webhookId, state ?? null, limit, offset],
    );
    const [{ total }] = await this.db.query(`SELECT count(*)::int AS total FROM webhook_deliveries WHERE ${where}`, [webhookId, state ?? null]);
    return { rows, total };
  }
}
