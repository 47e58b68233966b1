import { Controller, HttpCode, Param, Post } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { DiscoveryService, type DiscoveryAnswer } from './discovery.service.js';
import { RequiresRole } from '../auth/access.decorators.js';

@ApiTags('clusters')
@RequiresRole('admin')
@Controller('api/v1/clusters')
export class DiscoveryController {
  constructor(private readonly discovery: DiscoveryService) {}

  /** Discovers the cluster's connected hosts now: what was added, updated, moved and missing. */
  @Post(':id/discover')
  @HttpCode(200)
  @ApiOkResponse({ description: 'added, updated, moved, missing, skipped and unreachable' })
  discover(@Param('id') id: string): Promise<DiscoveryAnswer> {
    return this.discovery.discover(id);
  }
}
