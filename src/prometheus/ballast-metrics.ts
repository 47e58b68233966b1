import { Inject, Injectable } from '@nestjs/common';
import { collectDefaultMetrics, type Metric, Registry } from 'prom-client';
import { EvaluationsRepository } from '../closedloop/evaluations.repository.js';
import { type CollectionState, CollectionsRepository } from '../metrics/collections.repository.js';
import { MigrationQueue } from '../migrations/migration-queue.js';
import { populationSd } from '../planner/imbalance.js';
import { thresholdLevel } from '../planner/thresholds.js';
import { type BucketCounts, type HostLoadRow, ScrapeRepository } from './scrape.repository.js';

type Labels = Record<string, string | number>;
type MetricType = 'gauge' | 'histogram';
interface Sample {
  labels?: Labels;
  value: number;
  metricName?: string;
}

/** Everything one scrape reads, once, shared by all the series it answers. */
interface Scrape {
  clusters: Awaited<ReturnType<ScrapeRepository['clusters']>>;
  hosts: HostLoadRow[];
  migrations: Awaited<ReturnType<ScrapeRepository['migrationsByState']>>;
  oldestQueuedSeconds: number;
  jobs: Record<string, number>;
  duration: Map<string, BucketCounts>;
  downtime: Map<string, BucketCounts>;
  planning: Map<string, BucketCounts>;
  predictionRatio: Map<string, BucketCounts>;
  collections: CollectionState[];
  evaluations: Awaited<ReturnType<EvaluationsRepository['overview']>>;
  now: number;
}

export const DURATION_BUCKETS = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800];
export const DOWNTIME_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5];
export const PLANNING_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Measured over predicted time: 1 is a perfect prediction. */
export const PREDICTION_RATIO_BUCKETS = [0.25, 0.5, 0.75, 0.9, 1, 1.1, 1.25, 1.5, 2, 4];

/** A series family whose samples are computed at scrape time from the shared reads. */
class ScrapedMetric {
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly type: MetricType,
    private readonly read: () => Promise<Scrape>,
    private readonly samples: (scrape: Scrape) => Sample[],
  ) {}

  async get() {
    return { name: this.name, help: this.help, type: this.type, values: this.samples(await this.read()), aggregator: 'sum' as const };
  }
}

/**
 * Ballast's Prometheus registry: the process's own figures (prom-client's defaults) and the
 * service's, read from PostgreSQL (and the queue's job counts from Redis) at each scrape.
 */
@Injectable()
export class BallastMetrics {
  readonly registry = new Registry();
  private pending: Promise<Scrape> | null = null;

  constructor(
    private readonly rows: ScrapeRepository,
    @Inject(MigrationQueue) private readonly queue: MigrationQueue,
    private readonly collectionsRepository: CollectionsRepository,
    private readonly evaluationsRepository: EvaluationsRepository,
  ) {
    collectDefaultMetrics({ register: this.registry });
    for (const metric of this.families()) this.registry.registerMetric(metric as unknown as Metric);
  }

  contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * The reads of the scrape under way: the registry asks every series in the same tick, so they
   * share one set of reads, and the next scrape reads afresh.
   */
  private read = (): Promise<Scrape> => {
    if (!this.pending) {
      this.pending = this.readAll();
      setImmediate(() => (this.pending = null));
    }
    return this.pending;
  };

  private async readAll(): Promise<Scrape> {
    const now = Date.now();
    const [clusters, hosts, migrations, oldestQueuedSeconds, jobs, duration, downtime, planning, predictionRatio, collections, evaluations] = await Promise.all([
      this.rows.clusters(),
      this.rows.hostLoads(),
      this.rows.migrationsByState(),
      this.rows.oldestQueuedSeconds(),
      this.queue.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed'),
      this.rows.migrationFigure('totalTimeMs', DURATION_BUCKETS),
      this.rows.migrationFigure('downtimeMs', DOWNTIME_BUCKETS),
      this.rows.planningSeconds(PLANNING_BUCKETS),
      this.rows.predictionRatios(PREDICTION_RATIO_BUCKETS),
      this.collectionsRepository.all(),
      this.evaluationsRepository.overview(),
    ]);
    return { clusters, hosts, migrations, oldestQueuedSeconds, jobs, duration, downtime, planning, predictionRatio, collections, evaluations, now };
  }

  private families(): ScrapedMetric[] {
    const m = (name: string, help: string, type: MetricType, samples: (s: Scrape) => Sample[]) =>
      new ScrapedMetric(name, help, type, this.read, samples);
    return [
      m('ballast_cluster_imbalance', 'Imbalance of the cluster now (weighted sd of connected hosts\' CPU and active-memory utilization)', 'gauge', (s) =>
        s.clusters.map((c) => ({ labels: { cluster: c.id }, value: imbalanceOf(s.hosts.filter((h) => h.cluster_id === c.id), c.weights) })),
      ),
      m('ballast_cluster_target_imbalance', 'Imbalance the cluster\'s migration threshold aims below (absent at threshold 1: no balancing)', 'gauge', (s) =>
        s.clusters.flatMap((c) => {
          const target = thresholdLevel(c.threshold).targetImbalance;
          return target === null ? [] : [{ labels: { cluster: c.id }, value: target }];
        }),
      ),
      m('ballast_hosts', 'Hosts per cluster and state', 'gauge', (s) => countBy(s.hosts, (h) => ({ cluster: h.cluster_id, state: h.state }))),
      m('ballast_host_cpu_utilization', 'Powered-on VMs\' CPU demand over the host\'s capacity (0..1, above 1 when overcommitted)', 'gauge', (s) =>
        s.hosts.map((h) => ({ labels: { cluster: h.cluster_id, host: h.id }, value: h.cpu_demand_mhz / h.cpu_capacity_mhz })),
      ),
      m('ballast_host_memory_utilization', 'Powered-on VMs\' active memory over the host\'s memory (0..1)', 'gauge', (s) =>
        s.hosts.map((h) => ({ labels: { cluster: h.cluster_id, host: h.id }, value: h.memory_active_mb / h.memory_capacity_mb })),
      ),
      m('ballast_host_vms', 'Powered-on VMs per host', 'gauge', (s) => s.hosts.map((h) => ({ labels: { cluster: h.cluster_id, host: h.id }, value: h.vms }))),
      m('ballast_migrations', 'Migrations recorded, by cluster, state, reason and kind', 'gauge', (s) =>
        s.migrations.map((r) => ({ labels: { cluster: r.cluster_id, state: r.state, reason: r.reason, kind: r.kind }, value: r.n })),
      ),
      m('ballast_queue_jobs', 'Jobs in the BullMQ migration queue, by job state', 'gauge', (s) =>
        Object.entries(s.jobs).map(([state, value]) => ({ labels: { state }, value })),
      ),
      m('ballast_queue_oldest_job_age_seconds', 'Age of the longest-waiting queued migration (0 when none waits)', 'gauge', (s) => [{ value: s.oldestQueuedSeconds }]),
      m('ballast_migration_duration_seconds', 'Total time of the succeeded migrations, by kind', 'histogram', (s) => histogram('ballast_migration_duration_seconds', 'kind', s.duration, DURATION_BUCKETS)),
      m('ballast_migration_downtime_seconds', 'Switchover pause of the succeeded migrations, by kind', 'histogram', (s) => histogram('ballast_migration_downtime_seconds', 'kind', s.downtime, DOWNTIME_BUCKETS)),
      m('ballast_migration_duration_prediction_ratio', 'Measured over predicted total time of the succeeded migrations (1 = as predicted), by kind', 'histogram', (s) =>
        histogram('ballast_migration_duration_prediction_ratio', 'kind', s.predictionRatio, PREDICTION_RATIO_BUCKETS),
      ),
      m('ballast_collector_lag_seconds', 'Seconds since the collector last measured the cluster successfully (since its first attempt when none succeeded)', 'gauge', (s) =>
        s.collections.map((c) => ({ labels: { cluster: c.clusterId, source: c.source }, value: secondsSince(s.now, c.lastSuccessAt ?? c.lastAttemptAt) })),
      ),
      m('ballast_collector_source_failing', '1 while the cluster\'s metrics source fails (the last attempt failed), else 0', 'gauge', (s) =>
        s.collections.map((c) => ({ labels: { cluster: c.clusterId, source: c.source }, value: c.failingSince ? 1 : 0 })),
      ),
      m('ballast_collector_source_failing_seconds', 'How long the cluster\'s metrics source has been failing (0 while it answers)', 'gauge', (s) =>
        s.collections.map((c) => ({ labels: { cluster: c.clusterId, source: c.source }, value: c.failingSince ? secondsSince(s.now, c.failingSince) : 0 })),
      ),
      m('ballast_evaluation_lag_seconds', 'Seconds since the closed loop last evaluated the cluster', 'gauge', (s) =>
        s.evaluations.flatMap((e) => (e.evaluatedAt ? [{ labels: { cluster: e.clusterId }, value: secondsSince(s.now, e.evaluatedAt) }] : [])),
      ),
      m('ballast_open_detections', 'Detections open at the cluster\'s last evaluation (overloaded, imbalanced...), by kind', 'gauge', (s) =>
        s.evaluations.flatMap((e) => Object.entries(e.detections).map(([kind, n]) => ({ labels: { cluster: e.clusterId, kind }, value: Number(n) }))),
      ),
      m('ballast_planner_duration_seconds', 'Time the planner took for each stored plan, by who asked (scheduler, api, maintenance)', 'histogram', (s) => histogram('ballast_planner_duration_seconds', 'source', s.planning, PLANNING_BUCKETS)),
    ];
  }
}

/** FORMAT.md's imbalance over the connected hosts: the same figure as the planner's reference, from aggregates. */
function imbalanceOf(hosts: HostLoadRow[], weights: { cpu: number; memory: number }): number {
  const connected = hosts.filter((h) => h.state === 'connected');
  const cpu = populationSd(connected.map((h) => h.cpu_demand_mhz / h.cpu_capacity_mhz));
  const memory = populationSd(connected.map((h) => h.memory_active_mb / h.memory_capacity_mb));
  return (weights.cpu * cpu + weights.memory * memory) / (weights.cpu + weights.memory);
}

function secondsSince(now: number, at: Date): number {
  return Math.max(0, (now - new Date(at).getTime()) / 1000);
}

function countBy<T>(items: T[], labelsOf: (item: T) => Labels): Sample[] {
  const counts = new Map<string, Sample>();
  for (const item of items) {
    const labels = labelsOf(item);
    const key = JSON.stringify(labels);
    const sample = counts.get(key) ?? { labels, value: 0 };
    sample.value += 1;
    counts.set(key, sample);
  }
  return [...counts.values()];
}

function histogram(name: string, label: string, counts: Map<string, BucketCounts>, bounds: number[]): Sample[] {
  const samples: Sample[] = [];
  for (const [value, c] of counts) {
    bounds.forEach((le, i) => samples.push({ metricName: `${name}_bucket`, labels: { [label]: value, le }, value: c.buckets[i] }));
    samples.push({ metricName: `${name}_bucket`, labels: { [label]: value, le: '+Inf' }, value: c.count });
    samples.push({ metricName: `${name}_sum`, labels: { [label]: value }, value: c.sum });
    samples.push({ metricName: `${name}_count`, labels: { [label]: value }, value: c.count });
  }
  return samples;
}
