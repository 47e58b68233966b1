import { Body, Controller, Delete, Get, Param, Post, Query, Req } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { ParseBodyPipe } from '../common/parse-body.pipe.js';
import { booleanFlag, type Page, pageOf, PageQuery } from '../common/query-params.js';
import { readerOf, SnapshotError } from '../planner/validate-snapshot.js';
import { RequiresRole } from './access.decorators.js';
import { principalOf } from './access.guard.js';
import { ApiKeysService, type ApiKeyView, type NewApiKey } from './api-keys.service.js';
import { KEY_ROLES, OPEN_PRINCIPAL } from './roles.js';

/** The longest a key may live: ten years. */
const MAX_LIFETIME_MS = 10 * 365 * 24 * 3600 * 1000;

class CreateKeyDto {
  @ApiProperty({ minLength: 1, maxLength: 100, description: 'Who or what uses the key (it names the key in the audit trail)' }) name!: string;
  @ApiProperty({ enum: KEY_ROLES }) role!: string;
  @ApiPropertyOptional({ format: 'date-time', description: 'When the key stops working (in the future, at most 10 years ahead); default: never' })
  expiresAt?: string;
}

class KeyQuery extends PageQuery {
  @ApiPropertyOptional({ description: 'List revoked and expired keys too' }) includeInactive?: string;
}

export function parseNewKey(body: unknown, now = Date.now()): NewApiKey {
  const reader = readerOf(body ?? {}, 'body');
  reader.rejectUnknown(['name', 'role', 'expiresAt']);
  const name = reader.text('name');
  if (name.length > 100) throw new SnapshotError('body.name', 'must be at most 100 characters');
  const expiresAt = reader.timestamp('expiresAt');
  const expires = expiresAt === undefined ? null : new Date(expiresAt);
  if (expires && expires.getTime() <= now) throw new SnapshotError('body.expiresAt', 'must be in the future');
  if (expires && expires.getTime() > now + MAX_LIFETIME_MS) throw new SnapshotError('body.expiresAt', 'must be at most 10 years ahead');
  return { name, role: reader.oneOf('role', KEY_ROLES), expiresAt: expires };
}

@ApiTags('keys')
@RequiresRole('admin')
@Controller('api/v1/keys')
export class KeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Post()
  @ApiOperation({ summary: 'Create an API key: the answer holds the key, shown this once (only its hash is stored)' })
  @ApiBody({ type: CreateKeyDto })
  create(@Body(new ParseBodyPipe(parseNewKey)) request: NewApiKey, @Req() http: Request): Promise<ApiKeyView & { key: string }> {
    return this.keys.create(request, principalOf(http) ?? OPEN_PRINCIPAL);
  }

  @Get()
  @ApiOperation({ summary: 'The keys (never the keys themselves): active ones, or all with includeInactive=true' })
  list(@Query() query: KeyQuery): Promise<Page<ApiKeyView>> {
    return this.keys.list(booleanFlag(query.includeInactive, 'includeInactive'), pageOf(query));
  }

  @Get(':id')
  get(@Param('id') id: string): Promise<ApiKeyView> {
    return this.keys.get(id);
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Revoke a key: its next request is refused (401)' })
  revoke(@Param('id') id: string): Promise<ApiKeyView> {
    return this.keys.revoke(id);
  }
}
