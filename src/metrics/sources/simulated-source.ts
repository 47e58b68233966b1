import { type MetricsBatch, type MetricsSource, type MetricsTarget, type VmSample } from '../metrics-source.js';
import type { Trace, TraceVm } from '../trace.js';

/** The CPU of one vCPU of the generated clusters (src/scenarios/generate.ts): the cap of a VM's demand. */
const MHZ_PER_VCPU = 2600;
const SPIKE_CHANCE = 0.02;

export interface SimulatedOptions {
  seed: number;
  /** Wall seconds per simulated second (SIM_TIME_SCALE); 0 counts as 1. */
  timeScale: number;
  /** Replay this trace instead of the generated load. */
  trace?: Trace;
}

/** 32-bit FNV-1a of a string. */
function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A uniform number in [0, 1) that depends only on its inputs (murmur3's finalizer). */
function uniform(a: number, b: number, c: number): number {
  let h = (a ^ Math.imul(b | 0, 0x9e3779b1) ^ Math.imul(c | 0, 0x85ebca77)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/** The simulated clock: SIM_TIME_SCALE wall seconds make one simulated second. */
export function simulatedTime(now: Date, timeScale: number): number {
  return timeScale > 0 ? now.getTime() / timeScale : now.getTime();
}

/**
 * The generated load of one VM at simulated time `t` (ms): its configured demand (the baseline)
 * times a daily rhythm (a peak between 10:00 and 18:00 UTC, 20-50 % deep, both per VM), times
 * +-10 % noise per simulated second, with a 2 % chance of a spike of 1.5-3x. Pure: the same seed,
 * VM and time give the same figures in every process.
 */
export function simulatedDemand(
  seed: number,
  vm: { id: string; vcpus: number; memoryMb: number },
  baseline: { cpuMhz: number; memoryMb: number },
  t: number,
): { cpuMhz: number; memoryMb: number } {
  const key = (hashString(vm.id) ^ seed) >>> 0;
  const peakHour = 10 + 8 * uniform(key, 0, 1);
  const depth = 0.2 + 0.3 * uniform(key, 0, 2);
  const hourOfDay = ((t % 86_400_000) + 86_400_000) % 86_400_000 / 3_600_000;
  const rhythm = 1 + depth * Math.cos((2 * Math.PI * (hourOfDay - peakHour)) / 24);
  const second = Math.floor(t / 1000);
  const noise = 1 + 0.2 * (uniform(key, second, 3) - 0.5);
  const spike = uniform(key, second, 4) < SPIKE_CHANCE ? 1.5 + 1.5 * uniform(key, second, 5) : 1;
  const cpuCap = Math.max(vm.vcpus * MHZ_PER_VCPU, baseline.cpuMhz);
  const memoryNoise = 1 + 0.04 * (uniform(key, second, 6) - 0.5);
  return {
    cpuMhz: Math.min(cpuCap, baseline.cpuMhz * rhythm * noise * spike),
    memoryMb: Math.min(vm.memoryMb, baseline.memoryMb * (1 + 0.3 * (rhythm - 1)) * memoryNoise),
  };
}

/**
 * The `simulated` source: load that moves around each VM's configured demand (see
 * simulatedDemand), or the replay of a trace (TRACE.md). A VM named in the trace replays its own
 * rows; the others take the trace's VMs in turn (in id order), scaled by their vCPUs. The trace
 * repeats itself and follows the simulated clock; memory stays at the configured active memory.
 * Hosts measure the sum of their powered-on VMs.
 */
export class SimulatedMetricsSource implements MetricsSource {
  readonly name = 'simulated' as const;
  readonly polled = true;

  private readonly traceVms: ReadonlyMap<string, TraceVm>;

  constructor(private readonly options: SimulatedOptions) {
    this.traceVms = new Map((options.trace?.vms ?? []).map((v) => [v.id, v]));
  }

  async collect(target: MetricsTarget, now: Date): Promise<MetricsBatch> {
    const t = simulatedTime(now, this.options.timeScale);
    const trace = this.options.trace;
    const byHost = new Map<string, { cpu: number; memory: number }>(target.hosts.map((h) => [h.id, { cpu: 0, memory: 0 }]));
    const vms: VmSample[] = [];
    const ordered = [...target.vms].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    ordered.forEach((vm, index) => {
      if (vm.powerState !== 'on') return;
      const baseline = vm.baseline ?? { cpuMhz: 0, memoryMb: 0 };
      let figures: { cpuMhz: number; memoryMb: number };
      if (trace) {
        const own = this.traceVms.get(vm.id);
        const played = own ?? trace.vms[index % trace.vms.length];
        const cpu = trace.cpuAt(played.id, trace.replayTime(t)) ?? 0;
        figures = { cpuMhz: own ? cpu : (cpu * vm.vcpus) / played.cpuCount, memoryMb: baseline.memoryMb };
      } else {
        figures = simulatedDemand(this.options.seed, vm, baseline, t);
      }
      vms.push({ vmId: vm.id, at: now, ...figures });
      const host = byHost.get(vm.hostId);
      if (host) {
        host.cpu += figures.cpuMhz;
        host.memory += figures.memoryMb;
      }
    });
    const hosts = target.hosts.map((h) => ({ hostId: h.id, at: now, up: true, cpuMhz: byHost.get(h.id)!.cpu, memoryMb: byHost.get(h.id)!.memory }));
    return { vms, hosts };
  }
}
