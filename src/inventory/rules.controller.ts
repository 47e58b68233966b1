import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiPropertyOptional, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ParseBodyPipe } from '../common/parse-body.pipe.js';
import { booleanFlag, enumFilter, type Page, pageOf, PageQuery } from '../common/query-params.js';
import { type Rule, RULE_KINDS, RULE_MODES } from '../planner/snapshot.js';
import { parseRule, RULE_FIELDS } from '../planner/validate-snapshot.js';
import { RuleDto } from './items.dto.js';
import { parseRuleCreate } from './item-body.js';
import { RulesService, type RuleView, type StoredRuleView } from './rules.service.js';
import { RequiresRole } from '../auth/access.decorators.js';

class RuleQuery extends PageQuery {
  @ApiPropertyOptional() clusterId?: string;
  @ApiPropertyOptional({ enum: RULE_KINDS }) kind?: string;
  @ApiPropertyOptional({ enum: RULE_MODES }) mode?: string;
  @ApiPropertyOptional({ description: 'Rules that name this VM' }) vmId?: string;
}

const parseCreateRule = (body: unknown) => parseRuleCreate(body, RULE_FIELDS, parseRule);

const ON_CONFLICT =
  'A must rule that contradicts an enabled must rule of the cluster is refused (409 naming that rule); with ?disabledOnConflict=true it is stored disabled and the answer has `conflict`';

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
  @ApiBody({ type: RuleDto, description: 'clusterId may be left out: the rule joins the cluster of its VMs' })
  @ApiOperation({ summary: `Create a rule. ${ON_CONFLICT}` })
  @ApiQuery({ name: 'disabledOnConflict', required: false, type: Boolean })
  create(
    @Body(new ParseBodyPipe(parseCreateRule)) body: { item: Rule; clusterId?: string },
    @Query('disabledOnConflict') disabledOnConflict?: string,
  ): Promise<StoredRuleView> {
    return this.rules.create(body.clusterId, body.item, booleanFlag(disabledOnConflict, 'disabledOnConflict'));
  }

  @Get(':id')
  @ApiOkResponse({ type: RuleDto })
  get(@Param('id') id: string): Promise<RuleView> {
    return this.rules.get(id);
  }

  @Patch(':id')
  @RequiresRole('admin')
  @ApiBody({ type: RuleDto, description: 'The fields to change (null clears an optional one); clusterId cannot change' })
  @ApiOperation({ summary: `Change a rule. ${ON_CONFLICT}` })
  @ApiQuery({ name: 'disabledOnConflict', required: false, type: Boolean })
  update(@Param('id') id: string, @Body() body: unknown, @Query('disabledOnConflict') disabledOnConflict?: string): Promise<StoredRuleView> {
    return this.rules.update(id, body, booleanFlag(disabledOnConflict, 'disabledOnConflict'));
  }

  @Delete(':id')
  @RequiresRole('admin')
  @HttpCode(204)
  async remove(@Param('id') id: string): Promise<void> {
    await this.rules.remove(id);
  }
}
