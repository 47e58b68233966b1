import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiPropertyOptional, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ParseBodyPipe } from '../common/parse-body.pipe.js';
import { booleanFlag, enumFilter, type Page, pageOf, PageQuery } from '../common/query-params.js';
import { HOST_STATES, type SnapshotHost } from '../planner/snapshot.js';
import { HOST_FIELDS, parseHost } from '../planner/validate-snapshot.js';
import { HostsService, type HostView } from './hosts.service.js';
import { HostDto } from './items.dto.js';
import { parseClusterItemCreate } from './item-body.js';
import { RequiresRole } from '../auth/access.decorators.js';

class HostQuery extends PageQuery {
  @ApiPropertyOptional() clusterId?: string;
  @ApiPropertyOptional({ enum: HOST_STATES }) state?: string;
  @ApiPropertyOptional() compatibilityGroup?: string;
}

/**
 * A host with a `connectionUri` may leave out its capacities: they are read from libvirt (nodeinfo)
 * before it is created.
 */
function parseCreateHost(body: unknown): { item: SnapshotHost; clusterId: string; discoverCapacity: boolean } {
  const fields = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  const discoverCapacity = typeof fields.connectionUri === 'string' && fields.cpuCapacityMhz === undefined && fields.memoryCapacityMb === undefined;
  const complete = discoverCapacity ? { ...fields, cpuCapacityMhz: 1, memoryCapacityMb: 1 } : body;
  return { ...parseClusterItemCreate(complete, HOST_FIELDS, parseHost), discoverCapacity };
}

@ApiTags('hosts')
@RequiresRole('viewer')
@Controller('api/v1/hosts')
export class HostsController {
  constructor(private readonly hosts: HostsService) {}

  @Get()
  @ApiOkResponse({ type: [HostDto] })
  list(@Query() query: HostQuery): Promise<Page<HostView>> {
    const filter = {
      clusterId: query.clusterId,
      state: enumFilter(query.state, 'state', HOST_STATES),
      compatibilityGroup: query.compatibilityGroup,
    };
    return this.hosts.list(filter, pageOf(query));
  }

  @Post()
  @RequiresRole('admin')
  @ApiBody({ type: HostDto })
  create(@Body(new ParseBodyPipe(parseCreateHost)) body: ReturnType<typeof parseCreateHost>): Promise<HostView> {
    return this.hosts.create(body.clusterId, body.item, body.discoverCapacity);
  }

  @Get(':id')
  @ApiOkResponse({ type: HostDto })
  get(@Param('id') id: string): Promise<HostView> {
    return this.hosts.get(id);
  }

  @Patch(':id')
  @RequiresRole('admin')
  @ApiBody({ type: HostDto, description: 'The fields to change (null clears an optional one); clusterId cannot change' })
  @ApiOperation({ summary: 'Change a host. A capacity lowered below what its powered-on VMs take is refused (409 naming the figure) unless ?force=true' })
  @ApiQuery({ name: 'force', required: false, type: Boolean })
  update(@Param('id') id: string, @Body() body: unknown, @Query('force') force?: string): Promise<HostView> {
    return this.hosts.update(id, body, booleanFlag(force, 'force'));
  }

  @Delete(':id')
  @RequiresRole('admin')
  @HttpCode(204)
  async remove(@Param('id') id: string): Promise<void> {
    await this.hosts.remove(id);
  }
}
