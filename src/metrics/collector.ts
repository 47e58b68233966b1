import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { tryAdvisoryXactLock } from '../database/advisory-locks.js';
import { ClustersService } from '../inventory/clusters.service.js';
import { ClusterEntity } from '../inventory/entities/cluster.entity.js';
import { VmsService } from '../inventory/vms.service.js';
import { every } from '../scheduler/every.js';
import { CollectionsRepository } from './collections.repository.js';
import type { MetricsBatch, MetricsSourceName, MetricsTarget } from './metrics-source.js';
import { type SampleRow, SamplesRepository } from './samples.repository.js';
import { type HostMember, SeriesRepository, type VmMember } from './series.repository.js';
import { smoothedOf, SMOOTHING } from './smoothing.js';
import { MetricsSources } from './source-registry.js';

const ROLLUP_EVERY_MS = 3_600_000;
const FIRST_COLLECTION_AFTER_MS = 1000;
/** A second scheduler skips a cluster measured less than this share of an interval ago. */
const MIN_SHARE_OF_INTERVAL = 0.8;

export type CollectionOutcome =
  | { clusterId: string; outcome: 'collected' | 'failed'; source: MetricsSourceName; samples: number; smoothedVms: number; error?: string }
  | { clusterId: string; outcome: 'locked' | 'recent' };

/**
 * The collector (scheduler role): every METRICS_INTERVAL_SECONDS, for each cluster, asks its
 * source for samples (polled sources), stores them, smooths each VM's samples of the last 30
 * minutes (src/metrics/smoothing.ts) and writes the smoothed demand into the inventory. A VM with
 * no sample in the short window keeps the demand it has. An advisory lock keeps two schedulers off
 * the same cluster; a failing source is logged when its failure streak starts and ends.
 */
@Injectable()
export class MetricsCollector implements OnApplicationBootstrap {
  private readonly logger = new Logger(MetricsCollector.name);

  constructor(
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
    @InjectDataSource() private readonly db: DataSource,
    private readonly registry: SchedulerRegistry,
    private readonly sources: MetricsSources,
    private readonly clusters: ClustersService,
    private readonly vms: VmsService,
    private readonly series: SeriesRepository,
    private readonly samples: SamplesRepository,
    private readonly collections: CollectionsRepository,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.BALLAST_ROLES.has('scheduler') || this.config.METRICS_INTERVAL_SECONDS === 0) return;
    const intervalMs = this.config.METRICS_INTERVAL_SECONDS * 1000;
    // A first collection and rollup soon after start, then on their intervals.
    every(this.registry, this.logger, 'metrics', intervalMs, () => this.collectAll(), {
      afterMs: FIRST_COLLECTION_AFTER_MS,
      task: () => this.collectAll().then(() => this.rollup()),
    });
    every(this.registry, this.logger, 'metrics-rollup', ROLLUP_EVERY_MS, () => this.rollup());
  }

  async rollup(now = new Date()) {
    return this.samples.rollup(now.getTime(), this.config.METRICS_RETENTION_DAYS);
  }

  async collectAll(now = new Date()): Promise<CollectionOutcome[]> {
    await this.samples.prepare(now.getTime());
    const clusters = await this.db.getRepository(ClusterEntity).find({ select: { id: true }, order: { id: 'ASC' } });
    const outcomes: CollectionOutcome[] = [];
    for (const { id } of clusters) {
      try {
        outcomes.push(await this.collect(id, now));
      } catch (error) {
        this.logger.error(`metrics of cluster ${id}: ${(error as Error).message}`);
      }
    }
    return outcomes;
  }

  /** One collection of one cluster (what the timer does for each cluster). */
  async collect(clusterId: string, now = new Date()): Promise<CollectionOutcome> {
    return this.db.transaction(async (manager) => {
      if (!(await tryAdvisoryXactLock(manager, 'collectMetrics', clusterId))) return { clusterId, outcome: 'locked' };
      const cluster = await this.clusters.require(clusterId, manager);
      const previous = await this.collections.get(clusterId, manager);
      const minGapMs = MIN_SHARE_OF_INTERVAL * this.config.METRICS_INTERVAL_SECONDS * 1000;
      // Either side: a scheduler that read its clock before another one's collection committed
      // holds an earlier `now` than the attempt it finds, and must skip it all the same.
      if (previous && Math.abs(now.getTime() - previous.lastAttemptAt.getTime()) < minGapMs) {
        return { clusterId, outcome: 'recent' };
      }
      const sourceName = this.clusters.metricsSourceOf(cluster);
      await this.series.ensureForCluster(manager, clusterId);
      const vms = await this.series.vmsOf(manager, clusterId);
      const hosts = await this.series.hostsOf(manager, clusterId);

      let stored = 0;
      let error: string | null = null;
      try {
        const source = this.sources.get(sourceName);
        if (source.polled) {
          const batch = await source.collect(targetOf(clusterId, vms, hosts), now);
          const rows = sampleRows(batch, vms, hosts);
          await this.samples.insert(rows, manager);
          stored = rows.length;
        }
      } catch (failure) {
        error = (failure as Error).message;
      }
      const smoothedVms = await this.smoothInto(manager, vms, now.getTime());

      await this.collections.record(manager, { clusterId, source: sourceName, at: now, error, samples: stored });
      if (error && !previous?.failingSince) this.logger.error(`metrics of cluster ${clusterId} (${sourceName}) fail: ${error} (logged once until they work again)`);
      if (!error && previous?.failingSince) this.logger.log(`metrics of cluster ${clusterId} (${sourceName}) work again`);
      return { clusterId, outcome: error ? 'failed' : 'collected', source: sourceName, samples: stored, smoothedVms, ...(error ? { error } : {}) };
    });
  }

  /** Smooths each VM's recent samples into the inventory; returns how many VMs got a fresh value. */
  private async smoothInto(manager: EntityManager, vms: readonly VmMember[], now: number): Promise<number> {
    const windows = await this.samples.smoothingWindow(manager, vms.map((v) => v.seriesId), now - SMOOTHING.longWindowMs, now - SMOOTHING.shortWindowMs, now);
    const bySeries = new Map(windows.map((w) => [w.seriesId, w]));
    const demand = { ids: [] as string[], cpuMhz: [] as number[], memoryMb: [] as number[] };
    const newest = { ids: [] as number[], at: [] as number[] };
    for (const vm of vms) {
      const window = bySeries.get(vm.seriesId);
      // No sample since the last collection: the VM keeps its value (and shows as stale once its
      // newest sample is older than the short window).
      if (!window || (vm.lastSampleAt !== null && window.newestAt <= vm.lastSampleAt.getTime())) continue;
      newest.ids.push(vm.seriesId);
      newest.at.push(window.newestAt);
      const cpu = smoothedOf(window.cpuMhz.recent, window.cpuMhz.sum, window.cpuMhz.count);
      const memory = smoothedOf(window.memoryMb.recent, window.memoryMb.sum, window.memoryMb.count);
      if (cpu === null || memory === null) continue;
      demand.ids.push(vm.id);
      demand.cpuMhz.push(Math.max(0, cpu));
      demand.memoryMb.push(Math.min(vm.memoryMb, Math.max(0, memory)));
    }
    await this.vms.setMeasuredDemand(manager, demand);
    await this.series.setLastSampleAt(manager, newest.ids, newest.at);
    return demand.ids.length;
  }
}

function targetOf(clusterId: string, vms: readonly VmMember[], hosts: readonly HostMember[]): MetricsTarget {
  return {
    clusterId,
    hosts: hosts.map((h) => ({ id: h.id, cpuCapacityMhz: h.cpuCapacityMhz, memoryCapacityMb: h.memoryCapacityMb, connectionUri: h.connectionUri })),
    vms: vms.map((v) => ({
      id: v.id,
      hostId: v.hostId,
      vcpus: v.vcpus,
      memoryMb: v.memoryMb,
      powerState: v.powerState,
      baseline: { cpuMhz: v.baselineCpuMhz, memoryMb: v.baselineMemoryMb },
    })),
  };
}

/** The batch's samples of the cluster's own VMs and hosts, as rows (samples of others are dropped). */
function sampleRows(batch: MetricsBatch, vms: readonly VmMember[], hosts: readonly HostMember[]): SampleRow[] {
  const vmSeries = new Map(vms.map((v) => [v.id, v.seriesId]));
  const hostSeries = new Map(hosts.map((h) => [h.id, h.seriesId]));
  const rows: SampleRow[] = [];
  for (const s of batch.vms) {
    const seriesId = vmSeries.get(s.vmId);
    if (seriesId !== undefined) rows.push({ seriesId, at: s.at.getTime(), cpuMhz: s.cpuMhz, memoryMb: s.memoryMb, cpuContention: s.cpuContention ?? null });
  }
  for (const s of batch.hosts) {
    const seriesId = hostSeries.get(s.hostId);
    if (seriesId === undefined) continue;
    rows.push({ seriesId, at: s.at.getTime(), cpuMhz: s.up ? (s.cpuMhz ?? null) : null, memoryMb: s.up ? (s.memoryMb ?? null) : null });
  }
  return rows;
}
