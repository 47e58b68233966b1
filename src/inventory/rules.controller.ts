import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { ParseBodyPipe } from '../common/parse-body.pipe.js';
import { enumFilter, type Page, pageOf, PageQuery } from '../common/query-params.js';
import { type Rule, RULE_KINDS, RULE_MODES } from '../planner/snapshot.js';
import { parseRule, RULE_FIELDS } from '../planner/validate-snapshot.js';
import { RuleDto } from './items.dto.js';
import { parseClusterItemCreate } from './item-body.js';
import { RulesService, type RuleView } from './rules.service.js';
import { RequiresRole } from '../auth/access.decorators.js';

class RuleQuery extends PageQuery {
  @ApiPropertyOptional() clusterId?: string;
  @ApiPropertyOptional({ enum: RULE_KINDS }) kind?: string;
  @ApiPropertyOptional({ enum: RULE_MODES }) mode?: string;
  @ApiPropertyOptional({ description: 'Rules that name this VM' }) vmId?: string;
}

const parseCreateRule = (body: unknown) => parseClusterItemCreate(body, RULE_FIELDS, parseRule);

@ApiTags('rules')
@RequiresRole('viewer')
@Controller('api/v1/rules')
export class RulesController {
  constructor(private readonly rules: RulesService) {}

  @Get()
  @ApiOkResponse({ type: [RuleDto] })
  list(@Query() query: RuleQuery): Promise<Page<RuleView>> {
    const filter = {
      clusterId: query.clusterId,
      kind: enumFilter(query.kind, 'kind', RULE_KINDS),
      mode: enumFilter(query.mode, 'mode', RULE_MODES),
      vmId: query.vmId,
    };
    return this.rules.list(filter, pageOf(query));
  }

  @Post()
  @RequiresRole('admin')
  @ApiBody({ type: RuleDto })
  create(@Body(new ParseBodyPipe(parseCreateRule)) body: { item: Rule; clusterId: string }): Promise<RuleView> {
    return this.rules.create(body.clusterId, body.item);
  }

  @Get(':id')
  @ApiOkResponse({ type: RuleDto })
  get(@Param('id') id: string): Promise<RuleView> {
    return this.rules.get(id);
  }

  @Patch(':id')
  @RequiresRole('admin')
  @ApiBody({ type: RuleDto, description: 'The fields to change (null clears an optional one); clusterId cannot change' })
  update(@Param('id') id: string, @Body() body: unknown): Promise<RuleView> {
    return this.rules.update(id, body);
  }

  @Delete(':id')
  @RequiresRole('admin')
  @HttpCode(204)
  async remove(@Param('id') id: string): Promise<void> {
    await this.rules.remove(id);
  }
}
