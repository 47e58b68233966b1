import { MetricsSourceError, type MetricsSource, type MetricsSourceName } from './metrics-source.js';

/** The metrics sources of this process, by name (src/metrics/metrics.module.ts builds it). */
export class MetricsSources {
  private readonly byName = new Map<MetricsSourceName, MetricsSource>();

  constructor(sources: readonly MetricsSource[]) {
    for (const source of sources) this.byName.set(source.name, source);
  }

  get(name: MetricsSourceName): MetricsSource {
    const source = this.byName.get(name);
    if (!source) throw new MetricsSourceError(name, `this installation has no ${name} source`);
    return source;
  }
}
