import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { booleanFlag, type Page, pageOf, PageQuery } from '../common/query-params.js';
import { ParseBodyPipe } from '../common/parse-body.pipe.js';
import type { Snapshot } from '../planner/snapshot.js';
import { validateSnapshot } from '../planner/validate-snapshot.js';
import { ClusterDto, type ClusterChanges, CreateClusterDto, parseCreateCluster, parseUpdateCluster, UpdateClusterDto } from './clusters.dto.js';
import { ClustersService, type ClusterView } from './clusters.service.js';
import { type ImportResult, SnapshotsService } from './snapshots.service.js';
import { RequiresRole } from '../auth/access.decorators.js';
import { LargeBody } from '../common/request-body.js';

@ApiTags('clusters')
@RequiresRole('viewer')
@Controller('api/v1/clusters')
export class ClustersController {
  constructor(
    private readonly clusters: ClustersService,
    private readonly snapshots: SnapshotsService,
  ) {}

  @Get()
  @ApiOkResponse({ type: [ClusterDto] })
  list(@Query() query: PageQuery): Promise<Page<ClusterView>> {
    return this.clusters.list(pageOf(query));
  }

  @Post()
  @RequiresRole('admin')
  @ApiBody({ type: CreateClusterDto })
  create(@Body(new ParseBodyPipe(parseCreateCluster)) body: ReturnType<typeof parseCreateCluster>): Promise<ClusterView> {
    return this.clusters.create(body);
  }

  @Post('import')
  @LargeBody()
  @RequiresRole('admin')
  @ApiOperation({ summary: 'Create a cluster from a FORMAT.md snapshot (with ?replace=true, replace it) in one transaction' })
  @ApiQuery({ name: 'replace', required: false, type: Boolean })
  @ApiQuery({ name: 'disabledOnConflict', required: false, type: Boolean, description: 'Store must rules that contradict an earlier rule disabled instead of refusing the snapshot (409)' })
  @ApiBody({ description: 'A snapshot (docs/FORMAT.md)', schema: { type: 'object' } })
  import(
    @Body(new ParseBodyPipe(validateSnapshot)) snapshot: Snapshot,
    @Query('replace') replace?: string,
    @Query('disabledOnConflict') disabledOnConflict?: string,
  ): Promise<ImportResult> {
    return this.snapshots.import(snapshot, booleanFlag(replace, 'replace'), booleanFlag(disabledOnConflict, 'disabledOnConflict'));
  }

  @Get(':id')
  @ApiOkResponse({ type: ClusterDto })
  get(@Param('id') id: string): Promise<ClusterView> {
    return this.clusters.get(id);
  }

  @Get(':id/snapshot')
  @ApiOperation({ summary: 'The cluster as a FORMAT.md snapshot' })
  snapshot(@Param('id') id: string): Promise<Snapshot> {
    return this.snapshots.build(id);
  }

  @Patch(':id')
  @RequiresRole('admin')
  @ApiBody({ type: UpdateClusterDto })
  update(@Param('id') id: string, @Body(new ParseBodyPipe(parseUpdateCluster)) changes: ClusterChanges): Promise<ClusterView> {
    return this.clusters.update(id, changes);
  }

  @Delete(':id')
  @RequiresRole('admin')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a cluster; one with hosts only with ?force=true (its whole inventory goes with it)' })
  @ApiQuery({ name: 'force', required: false, type: Boolean })
  async remove(@Param('id') id: string, @Query('force') force?: string): Promise<void> {
    await this.clusters.remove(id, booleanFlag(force, 'force'));
  }
}
