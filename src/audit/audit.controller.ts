import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { RequiresRole } from '../auth/access.decorators.js';
import { badRequest } from '../common/http-errors.js';
import { enumFilter, MAX_PAGE_SIZE, timestampFilter, wholeNumber } from '../common/query-params.js';
import { AUDIT_KINDS, AUDITED_METHODS } from './audit-routes.js';
import type { AuditFilter } from './audit.repository.js';
import { AUDIT_OUTCOMES as OUTCOMES, type AuditPage, AuditService } from './audit.service.js';

/** Longer than any id, route or action Ballast has: refused rather than searched for. */
const MAX_TEXT_FILTER = 200;

class AuditQuery {
  @ApiPropertyOptional({ description: 'The key that made the request: its id, or "bootstrap" for BALLAST_ADMIN_KEY' }) keyId?: string;
  @ApiPropertyOptional({ enum: AUDITED_METHODS }) method?: string;
  @ApiPropertyOptional({ description: 'A cluster, host, VM, rule, plan, migration, maintenance operation, key or webhook id the request was about' })
  targetId?: string;
  @ApiPropertyOptional({ description: 'The route as the trail names it, e.g. /api/v1/hosts/:id' }) route?: string;
  @ApiPropertyOptional({ enum: AUDIT_KINDS }) kind?: string;
  @ApiPropertyOptional({ description: 'create, update, delete, import, approve, enter, exit, revoke, ...' }) action?: string;
  @ApiPropertyOptional({ format: 'date-time', description: 'Requests received at or after' }) from?: string;
  @ApiPropertyOptional({ format: 'date-time', description: 'Requests received before' }) to?: string;
  @ApiPropertyOptional({ enum: OUTCOMES, description: 'succeeded: answered below 400; refused: 4xx; failed: 5xx' }) outcome?: string;
  @ApiPropertyOptional({ minimum: 100, maximum: 599, description: 'The exact HTTP status answered' }) status?: string;
  @ApiPropertyOptional({ minimum: 1, maximum: MAX_PAGE_SIZE, default: 100 }) limit?: string;
  @ApiPropertyOptional({ description: "The previous page's nextCursor: the page of older events" }) cursor?: string;
}

class AuditEventDto {
  @ApiProperty() id!: string;
  @ApiProperty({ format: 'date-time', description: 'When the request was received' }) at!: string;
  @ApiProperty({ nullable: true, type: String, description: '"bootstrap" for BALLAST_ADMIN_KEY; null on an open API (no key configured)' }) keyId!: string | null;
  @ApiProperty() keyName!: string;
  @ApiProperty({ enum: ['viewer', 'operator', 'admin'] }) keyRole!: string;
  @ApiProperty({ enum: AUDITED_METHODS }) method!: string;
  @ApiProperty({ example: '/api/v1/hosts/:id' }) route!: string;
  @ApiProperty({ enum: AUDIT_KINDS }) kind!: string;
  @ApiProperty() action!: string;
  @ApiProperty({ example: { hostId: 'h1' }, description: 'The ids the request was about, from its route and its answer' }) targets!: object;
  @ApiProperty() status!: number;
  @ApiProperty({ enum: OUTCOMES }) outcome!: string;
  @ApiProperty({ nullable: true, type: String, description: "A refused or failed request's error message" }) message!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'The X-Request-Id of the request (its log lines carry it)' }) requestId!: string | null;
  @ApiProperty({ nullable: true, description: 'The state before a successful inventory, policy or key change (null: it did not exist)' }) before!: object | null;
  @ApiProperty({ nullable: true, description: 'The state after it (null: it was deleted)' }) after!: object | null;
}

class AuditPageDto {
  @ApiProperty({ type: [AuditEventDto] }) items!: AuditEventDto[];
  @ApiProperty() limit!: number;
  @ApiProperty({ nullable: true, type: String, description: 'Pass as cursor for the next (older) page; null on the last page' }) nextCursor!: string | null;
}

function textFilter(raw: string | undefined, field: string): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (raw.length > MAX_TEXT_FILTER) throw badRequest(field, `must be at most ${MAX_TEXT_FILTER} characters`);
  return raw;
}

export function parseAuditQuery(query: AuditQuery): { filter: AuditFilter; limit: number } {
  const from = timestampFilter(query.from, 'from');
  const to = timestampFilter(query.to, 'to');
  if (from && to && from >= to) throw badRequest('to', `must be after from (${from.toISOString()}), got "${query.to}"`);
  const cursor = query.cursor === undefined || query.cursor === '' ? undefined : query.cursor;
  if (cursor !== undefined && !/^[1-9]\d{0,17}$/.test(cursor)) throw badRequest('cursor', `must be a nextCursor of an earlier page, got "${cursor.slice(0, 40)}"`);
  const status = query.status === undefined || query.status === '' ? undefined : wholeNumber(query.status, 'status', 0, 100, 599);
  return {
    filter: {
      keyId: textFilter(query.keyId, 'keyId'),
      method: enumFilter(query.method?.toUpperCase(), 'method', AUDITED_METHODS),
      targetId: textFilter(query.targetId, 'targetId'),
      route: textFilter(query.route, 'route'),
      kind: enumFilter(query.kind, 'kind', AUDIT_KINDS),
      action: textFilter(query.action, 'action'),
      from,
      to,
      outcome: enumFilter(query.outcome, 'outcome', OUTCOMES),
      status,
      before: cursor,
    },
    limit: wholeNumber(query.limit, 'limit', 100, 1, MAX_PAGE_SIZE),
  };
}

@ApiTags('audit')
@RequiresRole('admin')
@Controller('api/v1/audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @ApiOperation({
    summary: 'The audit trail: every change asked of the API, newest first, with who, what, when, the status answered, and the state before and after',
    description: 'Pages by cursor: pass the answer\'s nextCursor as cursor for the next (older) page, with the same filters.',
  })
  @ApiOkResponse({ type: AuditPageDto })
  list(@Query() query: AuditQuery): Promise<AuditPage> {
    const { filter, limit } = parseAuditQuery(query);
    return this.audit.page(filter, limit);
  }
}
