import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { MetricsIngest } from './metrics-ingest.js';
import { MetricsQueries, type SeriesView } from './metrics-queries.js';
import { parseSeriesRange, SeriesQuery } from './series-query.js';
import { RequiresRole } from '../auth/access.decorators.js';
import { LargeBody } from '../common/request-body.js';

@ApiTags('metrics')
@RequiresRole('viewer')
@Controller('api/v1')
export class MetricsController {
  constructor(
    private readonly ingest: MetricsIngest,
    private readonly queries: MetricsQueries,
  ) {}

  @Post('metrics')
  @LargeBody()
  @RequiresRole('operator')
  @HttpCode(202)
  @ApiOperation({ summary: 'Push samples (the push source): all of a batch is stored, or none (400 naming every problem)' })
  @ApiBody({
    schema: {
      example: { samples: [{ vmId: 'vm-00001', at: '2026-12-02T12:00:00Z', cpuMhz: 1200, memoryMb: 4096 }, { hostId: 'esx-001', at: '2026-12-02T12:00:00Z', cpuMhz: 30000, memoryMb: 200000 }] },
    },
  })
  push(@Body() body: unknown): Promise<{ accepted: number }> {
    return this.ingest.push(body);
  }

  @Get('vms/:id/metrics')
  @ApiOperation({ summary: "A VM's CPU and memory over time: average and maximum per step" })
  vm(@Param('id') id: string, @Query() query: SeriesQuery): Promise<SeriesView> {
    return this.queries.of('vm', id, parseSeriesRange(query, Date.now()));
  }

  @Get('hosts/:id/metrics')
  @ApiOperation({ summary: "A host's CPU and memory used over time: average and maximum per step" })
  host(@Param('id') id: string, @Query() query: SeriesQuery): Promise<SeriesView> {
    return this.queries.of('host', id, parseSeriesRange(query, Date.now()));
  }
}
