import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { badRequest } from '../common/http-errors.js';
import { ParseBodyPipe } from '../common/parse-body.pipe.js';
import { enumFilter, isUuid, type Page, pageOf, PageQuery, timestampFilter } from '../common/query-params.js';
import { readerOf } from '../planner/validate-snapshot.js';
import { MIGRATION_KINDS, MIGRATION_STATES } from './migration-state.js';
import { type CancelledMigration, MigrationsService, type MigrationView, type MigrationWithEvents } from './migrations.service.js';
import { RequiresRole } from '../auth/access.decorators.js';
import { RequesterKeyId } from '../auth/access.guard.js';

class MigrationQuery extends PageQuery {
  @ApiPropertyOptional() clusterId?: string;
  @ApiPropertyOptional() vmId?: string;
  @ApiPropertyOptional({ description: 'Source or target host' }) hostId?: string;
  @ApiPropertyOptional({ enum: MIGRATION_STATES }) state?: string;
  @ApiPropertyOptional() planId?: string;
  @ApiPropertyOptional({ enum: MIGRATION_KINDS }) kind?: string;
  @ApiPropertyOptional({ format: 'date-time', description: 'Created at or after' }) since?: string;
  @ApiPropertyOptional({ format: 'date-time', description: 'Created before' }) until?: string;
}

class RelocateStorageDto {
  @ApiProperty({ description: 'A datastore of the VM\'s host' }) datastoreId!: string;
  @ApiPropertyOptional({ description: 'Which of the VM\'s datastores to leave (default: its first)' }) sourceDatastoreId?: string;
}

function parseRelocation(body: unknown): { datastoreId: string; sourceDatastoreId?: string } {
  const reader = readerOf(body, 'body');
  reader.rejectUnknown(['datastoreId', 'sourceDatastoreId']);
  return { datastoreId: reader.id('datastoreId'), sourceDatastoreId: reader.optionalId('sourceDatastoreId') };
}

@ApiTags('migrations')
@RequiresRole('viewer')
@Controller('api/v1')
export class MigrationsController {
  constructor(private readonly migrations: MigrationsService) {}

  @Get('migrations')
  list(@Query() query: MigrationQuery): Promise<Page<MigrationView>> {
    if (query.planId && !isUuid(query.planId)) throw badRequest('planId', `must be a plan id (a UUID), got "${query.planId}"`);
    const filter = {
      clusterId: query.clusterId,
      vmId: query.vmId,
      hostId: query.hostId,
      planId: query.planId,
      state: enumFilter(query.state, 'state', MIGRATION_STATES),
      kind: enumFilter(query.kind, 'kind', MIGRATION_KINDS),
      since: timestampFilter(query.since, 'since'),
      until: timestampFilter(query.until, 'until'),
    };
    return this.migrations.list(filter, pageOf(query));
  }

  @Get('migrations/:id')
  @ApiOperation({ summary: 'A migration with its history of events' })
  get(@Param('id') id: string): Promise<MigrationWithEvents> {
    return this.migrations.get(id);
  }

  @Post('migrations/:id/cancel')
  @RequiresRole('operator')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Cancel a migration: at once if not running, else the engine stops it and the VM stays on its source',
    description: '`cancellation.delivered` is false when Redis could not tell the worker at once: the cancellation is stored and acted on within seconds or when Redis is back',
  })
  cancel(@Param('id') id: string): Promise<CancelledMigration> {
    return this.migrations.cancel(id);
  }

  @Post('vms/:id/relocate-storage')
  @RequiresRole('operator')
  @HttpCode(202)
  @ApiOperation({ summary: 'Storage vMotion: move the running VM\'s disks to another datastore of its host' })
  @ApiBody({ type: RelocateStorageDto })
  relocateStorage(
    @Param('id') vmId: string,
    @Body(new ParseBodyPipe(parseRelocation)) body: { datastoreId: string; sourceDatastoreId?: string },
    @RequesterKeyId() keyId: string | null,
  ): Promise<MigrationWithEvents> {
    return this.migrations.relocateStorage(vmId, body.datastoreId, body.sourceDatastoreId, keyId);
  }
}
