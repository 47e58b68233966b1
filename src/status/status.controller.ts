import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { parseSeriesRange, SeriesQuery } from '../metrics/series-query.js';
import { type ClusterStatus, StatusService } from './status.service.js';
import { RequiresRole } from '../auth/access.decorators.js';

@ApiTags('clusters')
@RequiresRole('viewer')
@Controller('api/v1/clusters')
export class StatusController {
  constructor(private readonly status: StatusService) {}

  @Get(':id/status')
  @ApiOperation({ summary: "The cluster at a glance: imbalance and target, each host's load, the freshness of its metrics, planning" })
  get(@Param('id') id: string): Promise<ClusterStatus> {
    return this.status.status(id);
  }

  @Get(':id/imbalance')
  @ApiOperation({ summary: "The reference imbalance over time, from the hosts' stored samples" })
  imbalance(@Param('id') id: string, @Query() query: SeriesQuery) {
    return this.status.imbalance(id, parseSeriesRange(query, Date.now()));
  }
}
