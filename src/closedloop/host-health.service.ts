import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { HttpException } from '@nestjs/common';
import { notFound } from '../common/http-errors.js';
import { ClusterEntity } from '../inventory/entities/cluster.entity.js';
import { HostEntity } from '../inventory/entities/host.entity.js';
import { DEFAULT_TIMEOUT_SECONDS, MaintenanceService } from '../maintenance/maintenance.service.js';
import { NotificationsService } from '../notifications/notifications.service.js';
import type { HealthAction, HealthSeverity, HostState } from '../planner/snapshot.js';
import { CLOCK, type Clock } from './clock.js';
import { loopPolicy } from './loop-policy.js';

export interface HealthReport {
  severity: HealthSeverity;
  detail?: string;
}

export interface HealthOutcome {
  hostId: string;
  severity: HealthSeverity;
  detail: string | null;
  reportedAt: Date;
  /** What the report did, by the cluster's healthActions. */
  action: HealthAction | 'lift-quarantine' | null;
  hostState: HostState;
  /** The maintenance operation a severe (or moderate) report started. */
  operationId: string | null;
  /** In words: what happened and why. */
  summary: string;
}

/**
 * Proactive HA: a health provider reports a host healthy, moderately or severely degraded. By the
 * cluster's policy a degraded host is quarantined (takes no new VMs, keeps its own) or put into
 * maintenance (its VMs leave with priority 1, through the maintenance module); an evacuation the
 * other hosts cannot take quarantines the host instead. Back to healthy lifts a quarantine this
 * mechanism set (not one an operator set).
 */
@Injectable()
export class HostHealthService {
  private readonly logger = new Logger(HostHealthService.name);

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly maintenance: MaintenanceService,
    private readonly notifications: NotificationsService,
  ) {}

  /** `requestedByKeyId`: the reporter's key, which a maintenance the report starts records. */
  async report(hostId: string, report: HealthReport, requestedByKeyId: string | null = null): Promise<HealthOutcome> {
    const now = this.clock.now();
    const host = await this.db.getRepository(HostEntity).findOneBy({ id: hostId });
    if (!host) throw notFound('host', hostId);
    const cluster = await this.db.getRepository(ClusterEntity).findOneByOrFail({ id: host.clusterId });
    const previous = await this.last(hostId);
    const detail = report.detail ?? null;

    if (report.severity === 'healthy') {
      return this.db.transaction(async (manager) => {
        const lift = previous?.quarantinedByHealth === true && host.state === 'quarantine';
        if (lift) await manager.update(HostEntity, { id: hostId, state: 'quarantine' }, { state: 'connected' });
        await this.save(manager, hostId, report, now, null, false, null);
        const summary = lift
          ? `${hostId} reported healthy: the quarantine the earlier health report set is lifted`
          : `${hostId} reported healthy${previous?.action === 'maintenance' ? ': it stays in maintenance until an operator takes it out' : ''}`;
        return { hostId, severity: report.severity, detail, reportedAt: now, action: lift ? 'lift-quarantine' : null, hostState: lift ? 'connected' : host.state, operationId: null, summary };
      });
    }

    const action = loopPolicy(cluster.policy).healthActions[report.severity];
    let operationId: string | null = null;
    let summary: string;
    let applied: HealthAction = action;
    if (action === 'maintenance' && (host.state === 'connected' || host.state === 'quarantine')) {
      try {
        const operation = await this.maintenance.enter(hostId, { includePoweredOff: false, dryRun: false, timeoutSeconds: DEFAULT_TIMEOUT_SECONDS }, requestedByKeyId);
        operationId = 'id' in operation ? (operation.id as string) : null;
        summary = `${hostId} reported ${report.severity}ly degraded: entering maintenance, its VMs leave with priority 1`;
      } catch (error) {
        if (!(error instanceof HttpException) || error.getStatus() !== 409) throw error;
        applied = 'quarantine';
        summary = `${hostId} reported ${report.severity}ly degraded: its VMs cannot all leave (${error.message}), so it is quarantined instead`;
      }
    } else {
      summary = `${hostId} reported ${report.severity}ly degraded: quarantined (takes no new VMs, keeps its own)`;
    }
    return this.db.transaction(async (manager) => {
      let quarantinedByHealth = previous?.quarantinedByHealth ?? false;
      if (applied === 'quarantine') {
        const result = await manager.update(HostEntity, { id: hostId, state: 'connected' }, { state: 'quarantine' });
        if ((result.affected ?? 0) > 0) quarantinedByHealth = true;
        else if (host.state !== 'quarantine') summary = `${hostId} reported ${report.severity}ly degraded; it is ${host.state}, which stays as it is`;
      }
      await this.save(manager, hostId, report, now, applied, quarantinedByHealth, operationId);
      const state = (await manager.findOneByOrFail(HostEntity, { id: hostId })).state;
      await this.notifications.notify('host.degraded', { clusterId: host.clusterId, hostId, severity: report.severity, detail, action: applied, hostState: state, operationId }, manager);
      this.logger.warn({ msg: summary, clusterId: host.clusterId });
      return { hostId, severity: report.severity, detail, reportedAt: now, action: applied, hostState: state, operationId, summary };
    });
  }

  async last(hostId: string): Promise<{ severity: HealthSeverity; action: HealthAction | null; quarantinedByHealth: boolean } | null> {
    const [row] = await this.db.query(`SELECT severity, action, quarantined_by_health AS "quarantinedByHealth" FROM host_health WHERE host_id = $1`, [hostId]);
    return row ?? null;
  }

  private async save(
    manager: EntityManager,
    hostId: string,
    report: HealthReport,
    at: Date,
    action: HealthAction | null,
    quarantinedByHealth: boolean,
    operationId: string | null,
  ): Promise<void> {
    await manager.query(
      `INSERT INTO host_health (host_id, severity, detail, reported_at, action, quarantined_by_health, operation_id) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (host_id) DO UPDATE SET severity = excluded.severity, detail = excluded.detail, reported_at = excluded.reported_at,
         action = excluded.action, quarantined_by_health = excluded.quarantined_by_health, operation_id = excluded.operation_id`,
      [hostId, report.severity, report.detail ?? null, at, action, quarantinedByHealth, operationId],
    );
  }
}
