import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiOperation, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { RequiresRole } from '../auth/access.decorators.js';
import { enumFilter, type Page, pageOf, PageQuery } from '../common/query-params.js';
import { INCIDENT_STATES, type IncidentView } from './closed-loop-status.js';
import { IncidentsService } from './incidents.service.js';

class IncidentQuery extends PageQuery {
  @ApiPropertyOptional({ enum: INCIDENT_STATES, description: 'open: the host has not answered again; closed: it has, or an operator set its state' })
  state?: string;
}

@ApiTags('clusters')
@RequiresRole('viewer')
@Controller('api/v1/clusters')
export class IncidentsController {
  constructor(private readonly incidents: IncidentsService) {}

  @Get(':id/incidents')
  @ApiOperation({ summary: "The cluster's incidents of failed hosts, newest first, with what HA did about each" })
  list(@Param('id') id: string, @Query() query: IncidentQuery): Promise<Page<IncidentView>> {
    return this.incidents.list(id, enumFilter(query.state, 'state', INCIDENT_STATES), pageOf(query));
  }
}
