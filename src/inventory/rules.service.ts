import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { type DataSource, type EntityManager, type FindOptionsWhere, In } from 'typeorm';
import { badRequest, conflict, notFound } from '../common/http-errors.js';
import type { Page } from '../common/query-params.js';
import { parseOrBadRequest } from '../common/parse-body.pipe.js';
import { PG_UNIQUE_VIOLATION, pgErrorCode } from '../database/pg-errors.js';
import type { Rule, RuleKind, RuleMode } from '../planner/snapshot.js';
import { ClustersService } from './clusters.service.js';
import { HostEntity } from './entities/host.entity.js';
import { parseRule, RULE_FIELDS } from '../planner/validate-snapshot.js';
import { RuleEntity } from './entities/rule.entity.js';
import { parseItemUpdate } from './item-body.js';
import { VmEntity } from './entities/vm.entity.js';
import { ruleRow, ruleToFormat } from './format-mapping.js';

export type RuleView = Rule & { clusterId: string };

export interface RuleFilter {
  clusterId?: string;
  kind?: RuleKind;
  mode?: RuleMode;
  vmId?: string;
}

function ruleView(rule: RuleEntity): RuleView {
  return { clusterId: rule.clusterId, ...ruleToFormat(rule) };
}

@Injectable()
export class RulesService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly clusters: ClustersService,
  ) {}

  async list(filter: RuleFilter, page: { limit: number; offset: number }): Promise<Page<RuleView>> {
    const query = this.db.getRepository(RuleEntity).createQueryBuilder('r').orderBy('r.id', 'ASC').take(page.limit).skip(page.offset);
    const where: FindOptionsWhere<RuleEntity> = {};
    if (filter.clusterId) where.clusterId = filter.clusterId;
    if (filter.kind) where.kind = filter.kind;
    if (filter.mode) where.mode = filter.mode;
    query.where(where);
    if (filter.vmId) query.andWhere(':vmId = ANY(r.vm_ids)', { vmId: filter.vmId });
    const [rules, total] = await query.getManyAndCount();
    return { items: rules.map(ruleView), total, ...page };
  }

  async require(id: string, manager: EntityManager = this.db.manager): Promise<RuleEntity> {
    const rule = await manager.findOneBy(RuleEntity, { id });
    if (!rule) throw notFound('rule', id);
    return rule;
  }

  async get(id: string): Promise<RuleView> {
    return ruleView(await this.require(id));
  }

  async create(clusterId: string, rule: Rule): Promise<RuleView> {
    await this.db.transaction(async (manager) => {
      const cluster = await this.clusters.find(clusterId, manager, true);
      if (!cluster) throw badRequest('body.clusterId', `unknown cluster "${clusterId}"`);
      await this.checkMembers(manager, clusterId, rule);
      try {
        await manager.insert(RuleEntity, ruleRow(clusterId, rule));
      } catch (error) {
        if (pgErrorCode(error) === PG_UNIQUE_VIOLATION) throw conflict(`rule "${rule.id}" already exists`);
        throw error;
      }
    });
    return this.get(rule.id);
  }

  /** A partial update: the body's fields replace the rule's, the result is checked as a whole. */
  async update(id: string, body: unknown): Promise<RuleView> {
    await this.db.transaction(async (manager) => {
      const rule = await this.require(id, manager);
      const next = parseOrBadRequest(() => parseItemUpdate(ruleToFormat(rule), body, RULE_FIELDS, parseRule));
      await this.clusters.require(rule.clusterId, manager, true);
      await this.checkMembers(manager, rule.clusterId, next);
      await manager.save(RuleEntity, { ...rule, ...ruleRow(rule.clusterId, next) });
    });
    return this.get(id);
  }

  async remove(id: string): Promise<void> {
    const result = await this.db.getRepository(RuleEntity).delete({ id });
    if (!result.affected) throw notFound('rule', id);
  }

  /** The rule's VMs and hosts exist (else 400) and belong to its cluster (else 409). */
  private async checkMembers(manager: EntityManager, clusterId: string, rule: Rule): Promise<void> {
    await checkBelongTo(manager, clusterId, VmEntity, 'VM', 'body.vmIds', rule.vmIds);
    await checkBelongTo(manager, clusterId, HostEntity, 'host', 'body.hostIds', rule.hostIds ?? []);
  }
}

async function checkBelongTo(
  manager: EntityManager,
  clusterId: string,
  entity: typeof VmEntity | typeof HostEntity,
  kind: string,
  field: string,
  ids: string[],
): Promise<void> {
  const found: { id: string; clusterId: string }[] = await manager.find(entity, {
    where: { id: In(ids) },
    select: { id: true, clusterId: true },
  });
  const owners = new Map(found.map((item) => [item.id, item.clusterId]));
  ids.forEach((id, i) => {
    const owner = owners.get(id);
    if (owner === undefined) throw badRequest(`${field}[${i}]`, `unknown ${kind} "${id}"`);
    if (owner !== clusterId) throw conflict(`${kind} "${id}" is in cluster "${owner}", not in "${clusterId}"`);
  });
}
