import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { every } from '../scheduler/every.js';
import { AuditRepository } from './audit.repository.js';

const PURGE_EVERY_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Deletes audit rows older than AUDIT_RETENTION_DAYS, hourly, in processes that run the scheduler. */
@Injectable()
export class AuditRetention implements OnApplicationBootstrap {
  private readonly logger = new Logger('Audit');

  constructor(
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
    private readonly events: AuditRepository,
    private readonly registry: SchedulerRegistry,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.BALLAST_ROLES.has('scheduler') || this.config.AUDIT_RETENTION_DAYS === 0) return;
    every(this.registry, this.logger, 'audit-retention', PURGE_EVERY_MS, () => this.purge().then(() => undefined));
  }

  /** Deletes the rows recorded before the retention; answers how many went. */
  async purge(now = new Date()): Promise<number> {
    if (this.config.AUDIT_RETENTION_DAYS === 0) return 0;
    const deleted = await this.events.deleteOlderThan(new Date(now.getTime() - this.config.AUDIT_RETENTION_DAYS * DAY_MS));
    if (deleted > 0) this.logger.log(`audit: deleted ${deleted} rows older than ${this.config.AUDIT_RETENTION_DAYS} days`);
    return deleted;
  }
}
