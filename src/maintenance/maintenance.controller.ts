import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { ParseBodyPipe } from '../common/parse-body.pipe.js';
import { enumFilter, type Page, pageOf, PageQuery } from '../common/query-params.js';
import { readerOf } from '../planner/validate-snapshot.js';
import { OPERATION_STATES } from './maintenance.entity.js';
import { DEFAULT_TIMEOUT_SECONDS, type EnterOptions, type EvacuationPreview, type ExitResult, MaintenanceService } from './maintenance.service.js';
import type { OperationView } from './operation-view.js';
import { RequiresRole } from '../auth/access.decorators.js';
import { RequesterKeyId } from '../auth/access.guard.js';

class EnterMaintenanceDto {
  @ApiPropertyOptional({ default: false, description: 'Move powered-off VMs too (they are re-registered elsewhere)' }) includePoweredOff?: boolean;
  @ApiPropertyOptional({ default: false, description: 'Return the evacuation plan; change nothing' }) dryRun?: boolean;
  @ApiPropertyOptional({ default: DEFAULT_TIMEOUT_SECONDS, description: 'VMs still on the host after this stall the operation' })
  timeoutSeconds?: number;
}

class ExitMaintenanceDto {
  @ApiPropertyOptional({ default: false, description: 'Move back the VMs the last operation moved away' }) returnVms?: boolean;
}

class OperationQuery extends PageQuery {
  @ApiPropertyOptional() hostId?: string;
  @ApiPropertyOptional() clusterId?: string;
  @ApiPropertyOptional({ enum: OPERATION_STATES }) state?: string;
}

function parseEnter(body: unknown): EnterOptions {
  const reader = readerOf(body ?? {}, 'body');
  reader.rejectUnknown(['includePoweredOff', 'dryRun', 'timeoutSeconds']);
  return {
    includePoweredOff: reader.boolean('includePoweredOff') ?? false,
    dryRun: reader.boolean('dryRun') ?? false,
    timeoutSeconds: reader.optionalNumber('timeoutSeconds', { integer: true, min: 1, max: 7 * 24 * 3600 }) ?? DEFAULT_TIMEOUT_SECONDS,
  };
}

function parseExit(body: unknown): boolean {
  const reader = readerOf(body ?? {}, 'body');
  reader.rejectUnknown(['returnVms']);
  return reader.boolean('returnVms') ?? false;
}

@ApiTags('maintenance')
@RequiresRole('viewer')
@Controller('api/v1')
export class MaintenanceController {
  constructor(private readonly maintenance: MaintenanceService) {}

  @Post('hosts/:id/maintenance')
  @RequiresRole('operator')
  @ApiOperation({
    summary: 'Enter maintenance: admission (409 with the VMs that do not fit, nothing changed), then 202 and the evacuation',
  })
  @ApiBody({ type: EnterMaintenanceDto, required: false })
  async enter(
    @Param('id') hostId: string,
    @Body(new ParseBodyPipe(parseEnter)) options: EnterOptions,
    @Res({ passthrough: true }) response: Response,
    @RequesterKeyId() keyId: string | null,
  ): Promise<OperationView | EvacuationPreview> {
    const result = await this.maintenance.enter(hostId, options, keyId);
    response.status(options.dryRun ? 200 : 202);
    return result;
  }

  @Delete('hosts/:id/maintenance')
  @RequiresRole('operator')
  @ApiOperation({ summary: 'Leave maintenance: back to connected; with returnVms, the VMs moved away come back (a recorded plan)' })
  @ApiBody({ type: ExitMaintenanceDto, required: false })
  exit(
    @Param('id') hostId: string,
    @Body(new ParseBodyPipe(parseExit)) returnVms: boolean,
    @RequesterKeyId() keyId: string | null,
  ): Promise<ExitResult> {
    return this.maintenance.exit(hostId, returnVms, keyId);
  }

  @Get('maintenance')
  list(@Query() query: OperationQuery): Promise<Page<OperationView>> {
    return this.maintenance.list(
      { hostId: query.hostId, clusterId: query.clusterId, state: enumFilter(query.state, 'state', OPERATION_STATES) },
      pageOf(query),
    );
  }

  @Get('maintenance/:id')
  @ApiOperation({ summary: 'Progress: VMs total / moved / in flight / failed, GB moved, throughput, ETA, per-VM list, history' })
  get(@Param('id') id: string): Promise<OperationView> {
    return this.maintenance.get(id);
  }

  @Post('maintenance/:id/cancel')
  @RequiresRole('operator')
  @HttpCode(200)
  @ApiOperation({ summary: 'Stop the queued migrations and return the host to connected (VMs already moved stay)' })
  cancel(@Param('id') id: string): Promise<OperationView> {
    return this.maintenance.cancel(id);
  }

  @Post('maintenance/:id/retry')
  @RequiresRole('operator')
  @HttpCode(200)
  @ApiOperation({ summary: 'Try a stalled operation again, with a new deadline' })
  retry(@Param('id') id: string): Promise<OperationView> {
    return this.maintenance.retry(id);
  }
}
