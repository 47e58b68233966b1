import { randomBytes } from 'node:crypto';
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { notFound } from '../common/http-errors.js';
import { ParseBodyPipe } from '../common/parse-body.pipe.js';
import { enumFilter, isUuid, type Page, pageOf, PageQuery } from '../common/query-params.js';
import { readerOf, SnapshotError } from '../planner/validate-snapshot.js';
import { DELIVERY_STATES, WEBHOOK_EVENTS, type WebhookEvent } from './webhook-events.js';
import { type DeliveryRow, type WebhookRow, WebhooksRepository } from './webhooks.repository.js';
import { RequiresRole } from '../auth/access.decorators.js';

class CreateWebhookDto {
  @ApiProperty({ example: 'https://alerts.example.com/ballast' }) url!: string;
  @ApiProperty({ enum: WEBHOOK_EVENTS, isArray: true }) events!: string[];
  @ApiPropertyOptional({ description: 'HMAC-SHA256 key (16-256 characters); one is made when absent. Shown only in this answer.' }) secret?: string;
  @ApiPropertyOptional() description?: string;
}

class DeliveryQuery extends PageQuery {
  @ApiPropertyOptional({ enum: DELIVERY_STATES }) state?: string;
}

interface NewWebhook {
  url: string;
  events: WebhookEvent[];
  secret: string | null;
  description: string | null;
}

function parseWebhook(body: unknown): NewWebhook {
  const reader = readerOf(body ?? {}, 'body');
  reader.rejectUnknown(['url', 'events', 'secret', 'description']);
  const url = reader.text('url');
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    // refused below
  }
  if (!parsed || !['http:', 'https:'].includes(parsed.protocol)) throw new SnapshotError('body.url', `must be an http:// or https:// URL, got "${url}"`);
  const events = reader.ids('events', { nonEmpty: true });
  events.forEach((event, i) => {
    if (!(WEBHOOK_EVENTS as readonly string[]).includes(event)) throw new SnapshotError(`body.events[${i}]`, `must be one of ${WEBHOOK_EVENTS.join(', ')}, got "${event}"`);
  });
  const secret = reader.has('secret') ? reader.text('secret') : null;
  if (secret !== null && secret.length < 16) throw new SnapshotError('body.secret', 'must be at least 16 characters');
  return { url, events: events as WebhookEvent[], secret, description: reader.has('description') ? reader.text('description') : null };
}

/** A webhook as the API shows it: never its secret, except once, in the answer that created it. */
function view(row: WebhookRow) {
  return { id: row.id, url: row.url, events: row.events, description: row.description, createdAt: row.created_at };
}

function deliveryView(row: DeliveryRow) {
  return {
    id: row.id,
    webhookId: row.webhook_id,
    event: row.event,
    state: row.state,
    attempts: row.attempts,
    nextAttemptAt: row.state === 'pending' ? row.next_attempt_at : null,
    lastStatus: row.last_status,
    lastError: row.last_error,
    attemptLog: row.attempt_log,
    payload: row.payload,
    createdAt: row.created_at,
    deliveredAt: row.delivered_at,
  };
}

@ApiTags('webhooks')
@RequiresRole('admin')
@Controller('api/v1/webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksRepository) {}

  @Post()
  @ApiOperation({ summary: 'Subscribe a URL to events; deliveries are signed with HMAC-SHA256 (X-Ballast-Signature)' })
  @ApiBody({ type: CreateWebhookDto })
  async create(@Body(new ParseBodyPipe(parseWebhook)) body: NewWebhook) {
    const secret = body.secret ?? randomBytes(32).toString('hex');
    const row = await this.webhooks.create(body.url, body.events, secret, body.description);
    return { ...view(row), secret };
  }

  @Get()
  async list(@Query() query: PageQuery): Promise<Page<ReturnType<typeof view>>> {
    const { limit, offset } = pageOf(query);
    const { rows, total } = await this.webhooks.list(limit, offset);
    return { items: rows.map(view), total, limit, offset };
  }

  @Get(':id')
  async get(@Param('id') id: string) {
    return view(await this.found(id));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Unsubscribe; its deliveries go with it' })
  async delete(@Param('id') id: string): Promise<void> {
    if (!isUuid(id) || !(await this.webhooks.delete(id))) throw notFound('webhook', id);
  }

  @Get(':id/deliveries')
  @ApiOperation({ summary: 'Deliveries of the webhook, newest first: state, attempts with status or error, payload' })
  async deliveries(@Param('id') id: string, @Query() query: DeliveryQuery): Promise<Page<ReturnType<typeof deliveryView>>> {
    await this.found(id);
    const { limit, offset } = pageOf(query);
    const state = enumFilter(query.state, 'state', DELIVERY_STATES);
    const { rows, total } = await this.webhooks.deliveries(id, state, limit, offset);
    return { items: rows.map(deliveryView), total, limit, offset };
  }

  private async found(id: string): Promise<WebhookRow> {
    const row = isUuid(id) ? await this.webhooks.get(id) : null;
    if (!row) throw notFound('webhook', id);
    return row;
  }
}

