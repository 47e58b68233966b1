import { Module } from '@nestjs/common';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { InventoryModule } from '../inventory/inventory.module.js';
import { CollectionsRepository } from './collections.repository.js';
import { MetricsCollector } from './collector.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsIngest } from './metrics-ingest.js';
import { MetricsQueries } from './metrics-queries.js';
import { SamplesRepository } from './samples.repository.js';
import { SeriesRepository } from './series.repository.js';
import { MetricsSources } from './source-registry.js';
import { LibvirtMetricsSource } from './sources/libvirt-source.js';
import { PrometheusMetricsSource, type PrometheusOptions } from './sources/prometheus-source.js';
import { PushMetricsSource } from './sources/push-source.js';
import { SimulatedMetricsSource } from './sources/simulated-source.js';
import { Trace } from './trace.js';

export function prometheusOptions(config: BallastConfig): PrometheusOptions {
  return {
    url: config.PROMETHEUS_URL,
    queries: {
      vmCpuMhz: config.PROMETHEUS_VM_CPU_QUERY,
      vmMemoryMb: config.PROMETHEUS_VM_MEMORY_QUERY,
      hostCpuMhz: config.PROMETHEUS_HOST_CPU_QUERY,
      hostMemoryMb: config.PROMETHEUS_HOST_MEMORY_QUERY,
    },
    vmLabels: config.PROMETHEUS_VM_LABELS,
    hostLabels: config.PROMETHEUS_HOST_LABELS,
  };
}

/** Every metrics source of this installation; a new source is one more entry here. */
function metricsSources(config: BallastConfig): MetricsSources {
  return new MetricsSources([
    new SimulatedMetricsSource({
      seed: config.METRICS_SIM_SEED,
      timeScale: config.SIM_TIME_SCALE,
      trace: config.METRICS_SIM_TRACE ? Trace.fromFiles(config.METRICS_SIM_TRACE) : undefined,
    }),
    new PrometheusMetricsSource(prometheusOptions(config)),
    new PushMetricsSource(),
    new LibvirtMetricsSource(),
  ]);
}

@Module({
  imports: [InventoryModule],
  controllers: [MetricsController],
  providers: [
    { provide: MetricsSources, useFactory: metricsSources, inject: [BALLAST_CONFIG] },
    SeriesRepository,
    SamplesRepository,
    CollectionsRepository,
    MetricsCollector,
    MetricsIngest,
    MetricsQueries,
  ],
  exports: [MetricsSources, SeriesRepository, SamplesRepository, CollectionsRepository, MetricsCollector],
})
export class MetricsModule {}
