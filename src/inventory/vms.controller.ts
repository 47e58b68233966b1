import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { ParseBodyPipe } from '../common/parse-body.pipe.js';
import { enumFilter, type Page, pageOf, PageQuery } from '../common/query-params.js';
import { POWER_STATES, type SnapshotVm } from '../planner/snapshot.js';
import { parseVm, VM_FIELDS } from '../planner/validate-snapshot.js';
import { VmDto } from './items.dto.js';
import { parseItemCreate } from './item-body.js';
import { VmsService, type VmView } from './vms.service.js';
import { RequiresRole } from '../auth/access.decorators.js';

class VmQuery extends PageQuery {
  @ApiPropertyOptional() clusterId?: string;
  @ApiPropertyOptional() hostId?: string;
  @ApiPropertyOptional({ enum: POWER_STATES }) powerState?: string;
}

const parseCreateVm = (body: unknown) => parseItemCreate(body, VM_FIELDS, parseVm);

@ApiTags('vms')
@RequiresRole('viewer')
@Controller('api/v1/vms')
export class VmsController {
  constructor(private readonly vms: VmsService) {}

  @Get()
  @ApiOkResponse({ type: [VmDto] })
  list(@Query() query: VmQuery): Promise<Page<VmView>> {
    const filter = {
      clusterId: query.clusterId,
      hostId: query.hostId,
      powerState: enumFilter(query.powerState, 'powerState', POWER_STATES),
    };
    return this.vms.list(filter, pageOf(query));
  }

  @Post()
  @RequiresRole('admin')
  @ApiBody({ type: VmDto, description: 'The VM joins the cluster of its host' })
  create(@Body(new ParseBodyPipe(parseCreateVm)) vm: SnapshotVm): Promise<VmView> {
    return this.vms.create(vm);
  }

  @Get(':id')
  @ApiOkResponse({ type: VmDto })
  get(@Param('id') id: string): Promise<VmView> {
    return this.vms.get(id);
  }

  @Patch(':id')
  @RequiresRole('admin')
  @ApiBody({ type: VmDto, description: 'The fields to change (null clears an optional one)' })
  update(@Param('id') id: string, @Body() body: unknown): Promise<VmView> {
    return this.vms.update(id, body);
  }

  @Delete(':id')
  @RequiresRole('admin')
  @HttpCode(204)
  async remove(@Param('id') id: string): Promise<void> {
    await this.vms.remove(id);
  }
}
