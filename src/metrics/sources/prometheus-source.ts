import { type HostSample, type MetricsBatch, MetricsSourceError, type MetricsSource, type MetricsTarget, type VmSample } from '../metrics-source.js';

/** One PromQL query per figure; each must answer an instant vector in MHz or MB. */
export interface PrometheusQueries {
  vmCpuMhz: string;
  vmMemoryMb: string;
  hostCpuMhz: string;
  hostMemoryMb: string;
}

export interface PrometheusOptions {
  /** Base URL of the Prometheus server (its HTTP API is under /api/v1). */
  url: string;
  queries: PrometheusQueries;
  /** Labels that may carry a VM's id, tried in order (the libvirt exporter's `uuid`, then `domain`). */
  vmLabels: readonly string[];
  /** Labels that may carry a host's id, tried in order; `host:port` also matches the host `host`. */
  hostLabels: readonly string[];
  timeoutMs?: number;
}

interface InstantVector {
  metric: Record<string, string>;
  value: [number, string];
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * The `prometheus` source: one instant query per figure through the Prometheus HTTP API, at the
 * collector's time. A series belongs to the VM (or host) whose id is the value of the first of
 * `vmLabels` (`hostLabels`) that names one; series that name none are ignored, and a VM or host
 * with no series in an answer gets no figure from it. A host absent from both host queries did
 * not answer. A server that does not answer, or refuses a query, fails the collection.
 */
export class PrometheusMetricsSource implements MetricsSource {
  readonly name = 'prometheus' as const;
  readonly polled = true;

  constructor(private readonly options: PrometheusOptions) {}

  async collect(target: MetricsTarget, now: Date): Promise<MetricsBatch> {
    const q = this.options.queries;
    const [vmCpu, vmMemory, hostCpu, hostMemory] = await Promise.all([
      this.query(q.vmCpuMhz, now),
      this.query(q.vmMemoryMb, now),
      this.query(q.hostCpuMhz, now),
      this.query(q.hostMemoryMb, now),
    ]);
    const vmIds = new Set(target.vms.map((v) => v.id));
    const hostIds = new Set(target.hosts.map((h) => h.id));
    const vmMatch = (metric: Record<string, string>) => matchLabel(metric, this.options.vmLabels, vmIds, false);
    const hostMatch = (metric: Record<string, string>) => matchLabel(metric, this.options.hostLabels, hostIds, true);
    const cpuOf = byId(vmCpu, vmMatch);
    const memoryOf = byId(vmMemory, vmMatch);
    const vms: VmSample[] = [];
    for (const vm of target.vms) {
      const cpuMhz = cpuOf.get(vm.id);
      const memoryMb = memoryOf.get(vm.id);
      if (cpuMhz !== undefined && memoryMb !== undefined) vms.push({ vmId: vm.id, at: now, cpuMhz, memoryMb });
    }
    const hostCpuOf = byId(hostCpu, hostMatch);
    const hostMemoryOf = byId(hostMemory, hostMatch);
    const hosts: HostSample[] = target.hosts.map((h) => {
      const cpuMhz = hostCpuOf.get(h.id);
      const memoryMb = hostMemoryOf.get(h.id);
      return cpuMhz === undefined && memoryMb === undefined ? { hostId: h.id, at: now, up: false } : { hostId: h.id, at: now, up: true, cpuMhz, memoryMb };
    });
    return { vms, hosts };
  }

  private async query(promql: string, at: Date): Promise<InstantVector[]> {
    const url = new URL('api/v1/query', this.options.url.endsWith('/') ? this.options.url : `${this.options.url}/`);
    url.searchParams.set('query', promql);
    url.searchParams.set('time', String(at.getTime() / 1000));
    let response: Response;
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
      // A refused or reset connection names its code; a timeout is a TimeoutError.
      throw new MetricsSourceError('prometheus', `no answer from ${this.options.url} (${cause})`);
    }
    let body: { status?: string; error?: string; data?: { resultType?: string; result?: InstantVector[] } };
    try {
      body = (await response.json()) as typeof body;
    } catch {
      throw new MetricsSourceError('prometheus', `${this.options.url} answered HTTP ${response.status} without JSON`);
    }
    if (body.status !== 'success') throw new MetricsSourceError('prometheus', `query "${promql}" refused: ${body.error ?? `HTTP ${response.status}`}`);
    if (body.data?.resultType !== 'vector') throw new MetricsSourceError('prometheus', `query "${promql}" must answer an instant vector, got a ${body.data?.resultType}`);
    return body.data.result ?? [];
  }
}

/** The id a series names: the value of the first label that is a known id (or, for hosts, `id:port`). */
export function matchLabel(metric: Record<string, string>, labels: readonly string[], ids: ReadonlySet<string>, stripPort: boolean): string | null {
  for (const label of labels) {
    const value = metric[label];
    if (value === undefined) continue;
    if (ids.has(value)) return value;
    if (stripPort) {
      const host = value.replace(/:\d+$/, '');
      if (ids.has(host)) return host;
    }
  }
  return null;
}

function byId(result: readonly InstantVector[], match: (metric: Record<string, string>) => string | null): Map<string, number> {
  const out = new Map<string, number>();
  for (const series of result) {
    const id = match(series.metric);
    const value = Number(series.value[1]);
    if (id !== null && Number.isFinite(value)) out.set(id, Math.max(0, value));
  }
  return out;
}
