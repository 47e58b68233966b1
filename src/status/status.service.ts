import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { CLOCK, type Clock } from '../closedloop/clock.js';
import type { EvaluationDecision } from '../closedloop/evaluate.js';
import type { EvaluationRecord } from '../closedloop/evaluations.repository.js';
import { closedLoopStatus, type ClosedLoopStatus } from '../closedloop/closed-loop-status.js';
import { EvaluationsRepository } from '../closedloop/evaluations.repository.js';
import { IncidentsRepository } from '../closedloop/incidents.repository.js';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { ClustersService } from '../inventory/clusters.service.js';
import { policyToFormat } from '../inventory/format-mapping.js';
import { SnapshotsService } from '../inventory/snapshots.service.js';
import { CollectionsRepository } from '../metrics/collections.repository.js';
import type { MetricsSourceName } from '../metrics/metrics-source.js';
import { SamplesRepository } from '../metrics/samples.repository.js';
import type { SeriesRange } from '../metrics/series-query.js';
import { SeriesRepository } from '../metrics/series.repository.js';
import { isStale } from '../metrics/smoothing.js';
import { type ClusterLoad, clusterLoad } from './cluster-load.js';
import { type ImbalancePoint, imbalanceSeries } from './imbalance-series.js';

const STALE_IDS_SHOWN = 20;

export interface MetricsFreshness {
  source: MetricsSourceName;
  lastAttemptAt: Date | null;
  lastSuccessAt: Date | null;
  /** Start of the source's current failure streak, with its error; null while it works. */
  failingSince: Date | null;
  error: string | null;
  /** The newest sample of the cluster's VMs the collector has seen. */
  newestSampleAt: Date | null;
  poweredOnVms: number;
  /** Powered-on VMs whose newest sample is older than the smoothing's short window (they keep their last demand). */
  staleVms: number;
  staleVmIds: string[];
}

export interface ClusterStatus extends ClusterLoad {
  clusterId: string;
  at: Date;
  metrics: MetricsFreshness;
  planning: {
    intervalSeconds: number;
    /** What the closed loop's last evaluation of the cluster decided (null: none yet). */
    last: PlanningDecision | null;
    /** When the next evaluation is due (null: no evaluation yet, or balancing is off). */
    nextAt: Date | null;
  };
  /** The closed loop: open detections, held and failed hosts, budget, window, the last evaluation. */
  closedLoop: ClosedLoopStatus;
}

/** The cluster at a glance: load, imbalance, freshness of its metrics, planning. */
@Injectable()
export class StatusService {
  constructor(
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
    @InjectDataSource() private readonly db: DataSource,
    private readonly clusters: ClustersService,
    private readonly snapshots: SnapshotsService,
    private readonly series: SeriesRepository,
    private readonly samples: SamplesRepository,
    private readonly collections: CollectionsRepository,
    private readonly evaluations: EvaluationsRepository,
    private readonly incidents: IncidentsRepository,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /**
   * The inventory is read once, in one transaction, and only what the load needs of each VM (a
   * full snapshot of a cluster of thousands of VMs costs several times as much); the rest of the
   * state is a row each, read meanwhile on other connections.
   */
  async status(clusterId: string, now = this.clock.now()): Promise<ClusterStatus> {
    const [{ cluster, snapshot }, collection, evaluation, incidents] = await Promise.all([
      this.db.transaction('REPEATABLE READ', async (manager) => {
        const cluster = await this.clusters.require(clusterId, manager);
        const hosts = await this.snapshots.hosts(clusterId, manager);
        const vms = await this.series.loadOf(manager, clusterId);
        return { cluster, snapshot: { policy: policyToFormat(cluster.policy), hosts, vms } };
      }),
      this.collections.get(clusterId),
      this.evaluations.get(clusterId),
      this.incidents.open(clusterId),
    ]);
    const poweredOn = snapshot.vms.filter((v) => v.powerState === 'on');
    const stale = poweredOn.filter((v) => isStale(v.lastSampleAt?.getTime() ?? null, now.getTime())).map((v) => v.id);
    const newest = snapshot.vms.reduce<number | null>((max, v) => (v.lastSampleAt && (max === null || v.lastSampleAt.getTime() > max) ? v.lastSampleAt.getTime() : max), null);
    const intervalSeconds = this.config.BALANCE_INTERVAL_SECONDS;
    return {
      clusterId,
      at: now,
      ...clusterLoad(snapshot),
      metrics: {
        source: this.clusters.metricsSourceOf(cluster),
        lastAttemptAt: collection?.lastAttemptAt ?? null,
        lastSuccessAt: collection?.lastSuccessAt ?? null,
        failingSince: collection?.failingSince ?? null,
        error: collection?.error ?? null,
        newestSampleAt: newest === null ? null : new Date(newest),
        poweredOnVms: poweredOn.length,
        staleVms: stale.length,
        staleVmIds: stale.slice(0, STALE_IDS_SHOWN),
      },
      planning: {
        intervalSeconds,
        last: lastDecision(evaluation),
        nextAt: intervalSeconds > 0 && evaluation?.evaluatedAt && evaluation.nextAt ? new Date(evaluation.nextAt) : null,
      },
      closedLoop: closedLoopStatus(snapshot, evaluation, now.getTime(), incidents),
    };
  }

  /** The imbalance over time, from the samples of the cluster's connected hosts. */
  async imbalance(clusterId: string, range: SeriesRange): Promise<{ clusterId: string; from: string; to: string; stepSeconds: number; points: ImbalancePoint[] }> {
    const cluster = await this.clusters.require(clusterId);
    const hosts = await this.series.hostsOf(this.db.manager, clusterId, true);
    const series = await this.samples.series(hosts.map((h) => h.seriesId), range.from, range.to, range.stepSeconds);
    return {
      clusterId,
      from: new Date(range.from).toISOString(),
      to: new Date(range.to).toISOString(),
      stepSeconds: range.stepSeconds,
      points: imbalanceSeries(
        hosts.map((h) => ({ ...h, points: series.get(h.seriesId) ?? [] })),
        cluster.policy.resourceWeights,
      ),
    };
  }
}

export interface PlanningDecision {
  at: Date;
  outcome: EvaluationDecision;
  /** The evaluation's summary, in words. */
  reason: string;
  planId: string | null;
  /** Started and recommended. */
  moves: number;
  imbalance: number | null;
}

function lastDecision(evaluation: EvaluationRecord | null): PlanningDecision | null {
  if (!evaluation?.evaluatedAt) return null;
  return {
    at: new Date(evaluation.evaluatedAt),
    // A row of an evaluation from before outcomes were kept: planned when it started or recommended moves.
    outcome: evaluation.outcome ?? (evaluation.movesStarted + evaluation.recommended > 0 ? 'planned' : 'below-target'),
    reason: evaluation.summary ?? '',
    planId: evaluation.planId,
    moves: evaluation.movesStarted + evaluation.recommended,
    imbalance: evaluation.imbalance ?? null,
  };
}
