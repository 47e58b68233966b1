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
import { conflictOf, type RuleConflict } from '../planner/rule-conflicts.js';

export type RuleView = Rule & { clusterId: string };
/** A created or changed rule; `conflict` when it was stored disabled because it contradicts another must rule. */
export type StoredRuleView = RuleView & { conflict?: Omit<RuleConflict, 'ruleId'> };

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

  /**
   * Creates a rule in `clusterId`, or without one in the cluster of its VMs. A must rule that
   * contradicts an enabled must rule of the cluster is refused (409 naming that rule), or stored
   * disabled with `disabledOnConflict`.
   */
  async create(clusterId: string | undefined, rule: Rule, disabledOnConflict = false): Promise<StoredRuleView> {
    let disabledFor: RuleConflict | null = null;
    await this.db.transaction(async (manager) => {
      const ownerId = clusterId ?? (await clusterOfVms(manager, rule.vmIds));
      const cluster = await this.clusters.find(ownerId, manager, true);
      if (!cluster) throw badRequest('body.clusterId', `unknown cluster "${ownerId}"`);
      await this.checkMembers(manager, ownerId, rule);
      disabledFor = await this.conflictIn(manager, ownerId, rule, disabledOnConflict);
      try {
        await manager.insert(RuleEntity, ruleRow(ownerId, disabledFor ? { ...rule, enabled: false } : rule));
      } catch (error) {
        if (pgErrorCode(error) === PG_UNIQUE_VIOLATION) throw conflict(`rule "${rule.id}" already exists`);
        throw error;
      }
    });
    return this.stored(rule.id, disabledFor);
  }

  /** A partial update: the body's fields replace the rule's, the result is checked as a whole (conflicts as for create). */
  async update(id: string, body: unknown, disabledOnConflict = false): Promise<StoredRuleView> {
    let disabledFor: RuleConflict | null = null;
    await this.db.transaction(async (manager) => {
      const rule = await this.require(id, manager);
      const next = parseOrBadRequest(() => parseItemUpdate(ruleToFormat(rule), body, RULE_FIELDS, parseRule));
      await this.clusters.require(rule.clusterId, manager, true);
      await this.checkMembers(manager, rule.clusterId, next);
      disabledFor = await this.conflictIn(manager, rule.clusterId, next, disabledOnConflict);
      await manager.save(RuleEntity, { ...rule, ...ruleRow(rule.clusterId, disabledFor ? { ...next, enabled: false } : next) });
    });
    return this.stored(id, disabledFor);
  }

  private async stored(id: string, disabledFor: RuleConflict | null): Promise<StoredRuleView> {
    const view = await this.get(id);
    return disabledFor ? { ...view, conflict: { conflictsWith: disabledFor.conflictsWith, reason: disabledFor.reason } } : view;
  }

  /** The conflict of `rule` with the cluster's other rules: 409, or the conflict to store it disabled with. */
  private async conflictIn(manager: EntityManager, clusterId: string, rule: Rule, disabledOnConflict: boolean): Promise<RuleConflict | null> {
    const others = (await manager.find(RuleEntity, { where: { clusterId, mode: 'must' }, order: { createdAt: 'ASC', id: 'ASC' } })).map(ruleToFormat);
    const found = conflictOf(others, rule);
    if (found === null || disabledOnConflict) return found;
    const names = found.conflictsWith.map((r) => `"${r}"`).join(', ');
    throw conflict(`rule "${rule.id}" conflicts with must rule ${names}: ${found.reason}; change or disable that rule first, or store this one disabled with ?disabledOnConflict=true`, {
      ruleId: rule.id,
      conflictsWith: found.conflictsWith,
      reason: found.reason,
    });
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

/** The one cluster of a rule's VMs (a rule created without clusterId): 400 for an unknown VM or VMs of several clusters. */
async function clusterOfVms(manager: EntityManager, vmIds: string[]): Promise<string> {
  const found = await manager.find(VmEntity, { where: { id: In(vmIds) }, select: { id: true, clusterId: true } });
  const owners = new Map(found.map((vm) => [vm.id, vm.clusterId]));
  vmIds.forEach((id, i) => {
    if (!owners.has(id)) throw badRequest(`body.vmIds[${i}]`, `unknown VM "${id}"`);
  });
  const clusters = [...new Set(owners.values())].sort();
  if (clusters.length > 1) {
    const where = vmIds.map((id) => `${id} in ${owners.get(id) ?? '?'}`).join(', ');
    throw badRequest('body.vmIds', `the VMs are in different clusters (${where}); a rule's VMs share one cluster`);
  }
  return clusters[0];
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
