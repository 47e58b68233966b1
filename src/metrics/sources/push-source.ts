import type { MetricsBatch, MetricsSource } from '../metrics-source.js';

/**
 * The `push` source: agents send their samples to `POST /api/v1/metrics` (MetricsIngest); there
 * is nothing to poll. The collector still smooths what they sent into the inventory.
 */
export class PushMetricsSource implements MetricsSource {
  readonly name = 'push' as const;
  readonly polled = false;

  async collect(): Promise<MetricsBatch> {
    return { vms: [], hosts: [] };
  }
}
