/**
 * The metrics-source port. A source measures, for one cluster, the load of each VM and host at the
 * moment it is asked; the collector (scheduler role) smooths what it returns, stores every sample and
 * writes the smoothed demand into the inventory the planner reads. One adapter per source; a cluster
 * picks its source with `metricsSource` (default `METRICS_SOURCE`).
 */
export const METRICS_SOURCE_NAMES = ['simulated', 'prometheus', 'push', 'libvirt'] as const;
export type MetricsSourceName = (typeof METRICS_SOURCE_NAMES)[number];

/** What a source is asked about: the cluster as the inventory has it. */
export interface MetricsTarget {
  clusterId: string;
  hosts: ReadonlyArray<{
    id: string;
    cpuCapacityMhz: number;
    memoryCapacityMb: number;
    /** libvirt URI of the host, when it has one (the libvirt source reads it). */
    connectionUri?: string | null;
  }>;
  vms: ReadonlyArray<{
    id: string;
    hostId: string;
    vcpus: number;
    memoryMb: number;
    powerState: string;
    /**
     * The demand the VM was configured with before anything measured it (the centre of the
     * simulated load); the inventory's cpuDemandMhz / memoryActiveMb hold the smoothed measurements.
     */
    baseline?: { cpuMhz: number; memoryMb: number };
  }>;
}

export interface VmSample {
  vmId: string;
  at: Date;
  cpuMhz: number;
  memoryMb: number;
  /** Share of time (0..1) the VM's vCPUs were ready to run but not running (vSphere's CPU ready). */
  cpuContention?: number;
}

export interface HostSample {
  hostId: string;
  at: Date;
  /** Whether the host answered; a host that did not answers no figures. */
  up: boolean;
  cpuMhz?: number;
  memoryMb?: number;
}

export interface MetricsBatch {
  vms: VmSample[];
  hosts: HostSample[];
}

/** A source that could not be read at all (the collector logs it once per failure streak). */
export class MetricsSourceError extends Error {
  constructor(
    readonly source: MetricsSourceName,
    message: string,
  ) {
    super(`${source}: ${message}`);
    this.name = 'MetricsSourceError';
  }
}

export interface MetricsSource {
  readonly name: MetricsSourceName;
  /** Polled sources measure now; `push` has nothing to poll (its samples arrive through the API). */
  readonly polled: boolean;
  collect(target: MetricsTarget, now: Date): Promise<MetricsBatch>;
}
