import { Injectable, Logger, NotFoundException } from '@nestjs/common';
import type { Request, Response } from 'express';
import { principalOf } from '../auth/access.guard.js';
import { ApiKeysService } from '../auth/api-keys.service.js';
import { ClustersService } from '../inventory/clusters.service.js';
import { HostsService } from '../inventory/hosts.service.js';
import { RulesService } from '../inventory/rules.service.js';
import { VmsService } from '../inventory/vms.service.js';
import { type AuditTargets, auditedRoute, AUDITED_METHODS, routeTargets, type StateKind, targetIdsOf } from './audit-routes.js';
import { AuditRepository } from './audit.repository.js';

/** What the audit interceptor learns of a request while it runs: the state before and after, the ids its body and answer name. */
export interface RequestAudit {
  before?: unknown;
  after?: unknown;
  targets?: AuditTargets;
}

export type AuditedRequest = Request & { audit?: RequestAudit };

/** The longest a refusal's message is kept. */
const MAX_MESSAGE = 500;

export function isAudited(req: Request): boolean {
  return (AUDITED_METHODS as readonly string[]).includes(req.method) && req.path.startsWith('/api/v1/');
}

/** The Express path the request matched (`/api/v1/hosts/:id`), once routed. */
export function routeOf(req: Request): string | undefined {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' ? path : undefined;
}

/** The `message` of an error answer's JSON body, shortened. */
function messageOf(body: unknown): string | null {
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : typeof body === 'string' ? body : undefined;
  if (!text || !text.startsWith('{')) return null;
  try {
    const message = (JSON.parse(text) as { message?: unknown }).message;
    const shown = Array.isArray(message) ? message.join('; ') : typeof message === 'string' ? message : null;
    return shown === null ? null : shown.slice(0, MAX_MESSAGE);
  } catch {
    return null;
  }
}

/**
 * Writes the audit trail: one row per changing request whose key the access guard accepted, with
 * the status it was answered, and for inventory, policy and key changes the state before and after.
 * Nothing here may fail a request: a state that cannot be read is kept as null, a row that cannot
 * be written is logged as an error and the answer goes out as it was.
 */
@Injectable()
export class AuditTrail {
  private readonly logger = new Logger('Audit');

  constructor(
    private readonly events: AuditRepository,
    private readonly clusters: ClustersService,
    private readonly hosts: HostsService,
    private readonly vms: VmsService,
    private readonly rules: RulesService,
    private readonly keys: ApiKeysService,
  ) {}

  /** What `kind` `id` is now, as its API view; null when it does not exist or cannot be read. */
  async readState(kind: StateKind, id: string): Promise<unknown> {
    try {
      switch (kind) {
        case 'cluster':
          return await this.clusters.get(id);
        case 'host':
          return await this.hosts.get(id);
        case 'vm':
          return await this.vms.get(id);
        case 'rule':
          return await this.rules.get(id);
        case 'key':
          // The view never holds the key itself (only its prefix).
          return await this.keys.get(id);
      }
    } catch (error) {
      if (!(error instanceof NotFoundException)) this.logger.warn(`audit: cannot read ${kind} "${id}": ${(error as Error).message}`);
      return null;
    }
  }

  /**
   * Records an answered request (called as its answer is about to be written, with that answer's
   * body). A request refused before its key was accepted (401, or a body refused before routing)
   * has no principal and is not recorded: anyone could fill the trail with those.
   */
  async recordAnswer(req: AuditedRequest, res: Response, at: Date, body: unknown): Promise<void> {
    const principal = principalOf(req);
    if (!principal) return;
    try {
      const route = routeOf(req) ?? req.path;
      const audited = auditedRoute(req.method, route);
      const targets: AuditTargets = { ...routeTargets(routeOf(req), req.params), ...req.audit?.targets };
      const status = res.statusCode;
      const succeeded = status < 400;
      const requestId = res.getHeader('x-request-id');
      await this.events.insert({
        at,
        keyId: principal.keyId,
        keyName: principal.keyName,
        keyRole: principal.role,
        method: req.method,
        route,
        kind: audited.kind,
        action: audited.action,
        targets,
        targetIds: targetIdsOf(targets),
        status,
        message: succeeded ? null : messageOf(body),
        requestId: typeof requestId === 'string' ? requestId : null,
        // A refused or failed request changed nothing: its state is not kept.
        before: succeeded ? req.audit?.before : undefined,
        after: succeeded ? req.audit?.after : undefined,
      });
    } catch (error) {
      this.logger.error(`audit: the ${req.method} ${req.path} answered ${res.statusCode} was not recorded: ${(error as Error).message}`);
    }
  }
}
