import { Injectable } from '@nestjs/common';
import { type AuditEventRow, type AuditFilter, type AuditOutcome, AuditRepository, type NewAuditEvent } from './audit.repository.js';

export const AUDIT_OUTCOMES = ['succeeded', 'refused', 'failed'] as const satisfies readonly AuditOutcome[];

/** An audit row as the API shows it: what was recorded (less the search column), its id and outcome. */
export interface AuditEventView extends Omit<NewAuditEvent, 'at' | 'targetIds'> {
  id: string;
  at: string;
  outcome: AuditOutcome;
}

export interface AuditPage {
  items: AuditEventView[];
  limit: number;
  nextCursor: string | null;
}

function outcomeOf(status: number): AuditOutcome {
  return status >= 500 ? 'failed' : status >= 400 ? 'refused' : 'succeeded';
}

function view(row: AuditEventRow): AuditEventView {
  return {
    id: row.id,
    at: row.at.toISOString(),
    keyId: row.key_id,
    keyName: row.key_name,
    keyRole: row.key_role,
    method: row.method,
    route: row.route,
    kind: row.kind,
    action: row.action,
    targets: row.targets,
    status: row.status,
    outcome: outcomeOf(row.status),
    message: row.message,
    requestId: row.request_id,
    before: row.before,
    after: row.after,
  };
}

@Injectable()
export class AuditService {
  constructor(private readonly events: AuditRepository) {}

  async page(filter: AuditFilter, limit: number): Promise<AuditPage> {
    // One more than asked: whether there is a next page without counting the table.
    const rows = await this.events.page(filter, limit + 1);
    const items = rows.slice(0, limit).map(view);
    return { items, limit, nextCursor: rows.length > limit ? items[items.length - 1].id : null };
  }
}
