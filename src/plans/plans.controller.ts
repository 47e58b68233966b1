import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiProperty, ApiPropertyOptional, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ParseBodyPipe } from '../common/parse-body.pipe.js';
import { booleanFlag, enumFilter, type Page, pageOf, PageQuery } from '../common/query-params.js';
import type { PlanOptions, PlanResult } from '../planner/index.js';
import { readerOf } from '../planner/validate-snapshot.js';
import { PLAN_STATUSES } from './plan.entity.js';
import { type Approval, PlansService, type PlanView } from './plans.service.js';
import { RequiresRole } from '../auth/access.decorators.js';
import { RequesterKeyId } from '../auth/access.guard.js';
import { LIMITS } from '../planner/limits.js';

class PlanOptionsDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 5, description: 'Overrides the policy migrationThreshold' }) threshold?: number;
  @ApiPropertyOptional({ minimum: 0, description: 'Overrides the policy maxMovesPerRun' }) maxMoves?: number;
}

class ApproveDto {
  @ApiPropertyOptional({ type: [Number], description: 'Indexes of the moves to approve (default: all), kept in plan order' })
  moves?: number[];
}

class PlanQuery extends PageQuery {
  @ApiPropertyOptional() clusterId?: string;
  @ApiPropertyOptional({ enum: PLAN_STATUSES }) status?: string;
}

class PlanDto {
  @ApiProperty() id!: string;
  @ApiProperty() clusterId!: string;
  @ApiProperty({ enum: PLAN_STATUSES }) status!: string;
  @ApiProperty({ description: 'The plan as in docs/FORMAT.md' }) plan!: object;
  @ApiPropertyOptional({ description: 'Why each move was taken and what kept the other VMs in place' }) trace?: object;
}

function parsePlanOptions(body: unknown): PlanOptions {
  const reader = readerOf(body ?? {}, 'body');
  reader.rejectUnknown(['threshold', 'maxMoves']);
  return {
    threshold: reader.optionalNumber('threshold', { integer: true, min: 1, max: 5 }),
    maxMoves: reader.optionalNumber('maxMoves', { integer: true, min: 0, max: LIMITS.movesPerPlan }),
  };
}

function parseApproval(body: unknown): number[] | undefined {
  const reader = readerOf(body ?? {}, 'body');
  reader.rejectUnknown(['moves']);
  return reader.has('moves') ? reader.indexes('moves') : undefined;
}

@ApiTags('plans')
@RequiresRole('viewer')
@Controller('api/v1')
export class PlansController {
  constructor(private readonly plans: PlansService) {}

  @Post('clusters/:id/plans')
  @RequiresRole('operator')
  @ApiOperation({ summary: 'Plan the cluster as it is now; with ?dryRun=true the plan is returned, not stored' })
  @ApiQuery({ name: 'dryRun', required: false, type: Boolean })
  @ApiBody({ type: PlanOptionsDto, required: false })
  async create(
    @Param('id') clusterId: string,
    @Body(new ParseBodyPipe(parsePlanOptions)) options: PlanOptions,
    @RequesterKeyId() keyId: string | null,
    @Query('dryRun') dryRun?: string,
  ): Promise<PlanView | PlanResult> {
    if (booleanFlag(dryRun, 'dryRun')) {
      const { plan, trace } = await this.plans.preview(clusterId, options);
      return { plan, trace };
    }
    return this.plans.create(clusterId, options, 'operator', undefined, keyId);
  }

  @Get('plans')
  @ApiOkResponse({ type: [PlanDto] })
  list(@Query() query: PlanQuery): Promise<Page<PlanView>> {
    return this.plans.list({ clusterId: query.clusterId, status: enumFilter(query.status, 'status', PLAN_STATUSES) }, pageOf(query));
  }

  @Get('plans/:id')
  @ApiOperation({ summary: 'A plan with its decision trace' })
  @ApiOkResponse({ type: PlanDto })
  get(@Param('id') id: string): Promise<PlanView> {
    return this.plans.get(id);
  }

  @Post('plans/:id/approve')
  @RequiresRole('operator')
  @HttpCode(202)
  @ApiOperation({ summary: 'Approve all moves or a chosen subset: they become migrations' })
  @ApiBody({ type: ApproveDto, required: false })
  approve(
    @Param('id') id: string,
    @Body(new ParseBodyPipe(parseApproval)) moves: number[] | undefined,
    @RequesterKeyId() keyId: string | null,
  ): Promise<Approval> {
    return this.plans.approve(id, moves, keyId);
  }

  @Post('plans/:id/reject')
  @RequiresRole('operator')
  @HttpCode(200)
  reject(@Param('id') id: string): Promise<PlanView> {
    return this.plans.reject(id);
  }
}
