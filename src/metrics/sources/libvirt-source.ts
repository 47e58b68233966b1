import { type NodeInfo, numberField, parseDomainStats, parseFields, parseNodeInfo, Virsh } from '../../engine/libvirt/virsh.js';
import { type HostSample, type MetricsBatch, MetricsSourceError, type MetricsSource, type MetricsTarget, type VmSample } from '../metrics-source.js';

/** Cumulative counters of one reading: a figure is the difference of two readings over their time apart. */
interface DomainReading {
  atMs: number;
  cpuTimeNs: number;
  /** Sum over the vCPUs of the time they were runnable but waited for a host CPU. */
  vcpuDelayNs: number;
  vcpus: number;
  memoryMb: number;
}

interface HostReading {
  atMs: number;
  busyNs: number;
  totalNs: number;
  usedMemoryMb: number;
}

export interface LibvirtSourceOptions {
  virsh?: Virsh;
  /** A VM or host seen for the first time is read twice this far apart, so its first sample is a rate too (default 1000 ms). */
  firstDeltaMs?: number;
}

/** A reading older than this is no base for a rate (the VM moved, the collector paused). */
const MAX_BASE_AGE_MS = 15 * 60_000;

/**
 * The `libvirt` metrics source: per connected host, `domstats` of every domain and the node's CPU
 * and memory counters. A VM's CPU is its `cpu.time` growth converted to MHz with the host's MHz
 * per CPU (nodeinfo), its memory the guest's own balloon figures (available - unused) or else its
 * RSS capped at its current memory, and its contention the share of time its vCPUs were runnable
 * but not running (`vcpu.N.delay`), vSphere's CPU ready. The counters are cumulative: each figure
 * is the difference from the previous reading this process made (or one taken a second earlier).
 */
export class LibvirtMetricsSource implements MetricsSource {
  readonly name = 'libvirt' as const;
  readonly polled = true;
  private readonly virsh: Virsh;
  private readonly firstDeltaMs: number;
  private readonly domains = new Map<string, DomainReading>();
  private readonly nodes = new Map<string, HostReading>();
  private readonly nodeInfos = new Map<string, NodeInfo>();

  constructor(options: LibvirtSourceOptions = {}) {
    this.virsh = options.virsh ?? new Virsh();
    this.firstDeltaMs = options.firstDeltaMs ?? 1000;
  }

  async collect(target: MetricsTarget, now: Date): Promise<MetricsBatch> {
    const wanted = new Set(target.vms.filter((v) => v.powerState === 'on').map((v) => v.id));
    const connected = target.hosts.filter((h) => h.connectionUri);
    if (connected.length === 0) throw new MetricsSourceError('libvirt', `no host of cluster ${target.clusterId} has a connectionUri`);
    const failures: string[] = [];
    const batches = await Promise.all(
      target.hosts.map(async (host): Promise<MetricsBatch> => {
        if (!host.connectionUri) return { vms: [], hosts: [{ hostId: host.id, at: now, up: false }] };
        try {
          return await this.collectHost(host.id, host.connectionUri, wanted, now);
        } catch (error) {
          // A host that does not answer gives no figures; the others still count.
          failures.push((error as Error).message);
          return { vms: [], hosts: [{ hostId: host.id, at: now, up: false }] };
        }
      }),
    );
    if (failures.length === connected.length) throw new MetricsSourceError('libvirt', `no host answered: ${failures.join('; ')}`);
    return { vms: batches.flatMap((b) => b.vms), hosts: batches.flatMap((b) => b.hosts) };
  }

  private async collectHost(hostId: string, uri: string, wanted: ReadonlySet<string>, now: Date): Promise<MetricsBatch> {
    const { mhz, cpus } = await this.nodeInfo(hostId, uri);
    let current = await this.read(hostId, uri);
    const unknown = [...current.domains.keys()].some((id) => wanted.has(id) && !this.usableBase(`${hostId}/${id}`, current.atMs)) || !this.nodes.has(hostId);
    if (unknown) {
      for (const [id, reading] of current.domains) this.domains.set(`${hostId}/${id}`, reading);
      this.nodes.set(hostId, current.node);
      await new Promise((resolve) => setTimeout(resolve, this.firstDeltaMs));
      current = await this.read(hostId, uri);
    }
    const vms: VmSample[] = [];
    for (const [id, reading] of current.domains) {
      const key = `${hostId}/${id}`;
      const base = this.usableBase(key, reading.atMs);
      this.domains.set(key, reading);
      if (!base || !wanted.has(id)) continue;
      const wallNs = (reading.atMs - base.atMs) * 1e6;
      if (wallNs <= 0) continue;
      const cpus = Math.max(0, reading.cpuTimeNs - base.cpuTimeNs) / wallNs;
      const waiting = Math.max(0, reading.vcpuDelayNs - base.vcpuDelayNs) / wallNs / Math.max(1, reading.vcpus);
      vms.push({ vmId: id, at: now, cpuMhz: cpus * mhz, memoryMb: reading.memoryMb, cpuContention: Math.min(1, waiting) });
    }
    const baseNode = this.nodes.get(hostId);
    this.nodes.set(hostId, current.node);
    const host: HostSample = { hostId, at: now, up: true, memoryMb: current.node.usedMemoryMb };
    if (baseNode && current.node.totalNs > baseNode.totalNs) {
      const busyShare = (current.node.busyNs - baseNode.busyNs) / (current.node.totalNs - baseNode.totalNs);
      host.cpuMhz = Math.max(0, busyShare) * mhz * cpus;
    }
    return { vms, hosts: [host] };
  }

  private usableBase(key: string, atMs: number): DomainReading | undefined {
    const base = this.domains.get(key);
    return base && atMs - base.atMs <= MAX_BASE_AGE_MS && atMs > base.atMs ? base : undefined;
  }

  private async nodeInfo(hostId: string, uri: string): Promise<NodeInfo> {
    let node = this.nodeInfos.get(uri);
    if (!node) this.nodeInfos.set(uri, (node = parseNodeInfo(await this.virsh.run(uri, ['nodeinfo'], { hostId }))));
    return node;
  }

  private async read(hostId: string, uri: string): Promise<{ atMs: number; domains: Map<string, DomainReading>; node: HostReading }> {
    const call = (args: string[]) => this.virsh.run(uri, args, { hostId, timeoutMs: 15_000 });
    const [names, stats, cpu, memory] = await Promise.all([
      call(['list', '--uuid', '--name']),
      call(['domstats', '--raw', '--list-active', '--cpu-total', '--balloon', '--vcpu']),
      call(['nodecpustats']),
      call(['nodememstats']),
    ]);
    const atMs = Date.now();
    const uuidOf = new Map<string, string>();
    for (const line of names.split('\n')) {
      const [uuid, name] = line.trim().split(/\s+/);
      if (uuid && name) uuidOf.set(name, uuid);
    }
    const domains = new Map<string, DomainReading>();
    for (const [name, fields] of parseDomainStats(stats)) {
      const uuid = uuidOf.get(name);
      if (!uuid) continue;
      const vcpus = numberField(fields, 'vcpu.current') ?? 1;
      let delay = 0;
      for (let i = 0; i < (numberField(fields, 'vcpu.maximum') ?? vcpus); i++) delay += numberField(fields, `vcpu.${i}.delay`) ?? 0;
      domains.set(uuid, { atMs, cpuTimeNs: numberField(fields, 'cpu.time') ?? 0, vcpuDelayNs: delay, vcpus, memoryMb: memoryOf(fields) });
    }
    const cpuFields = parseFields(cpu, ':');
    const counter = (key: string) => Number.parseInt(cpuFields.get(key) ?? '0', 10) || 0;
    const idle = counter('idle') + counter('iowait');
    const busy = counter('user') + counter('system');
    const mem = parseFields(memory, ':');
    const kib = (key: string) => Number.parseInt(mem.get(key) ?? '0', 10) || 0;
    const usedMemoryMb = (kib('total') - kib('free') - kib('buffers') - kib('cached')) / 1024;
    return { atMs, domains, node: { atMs, busyNs: busy, totalNs: busy + idle, usedMemoryMb: Math.max(0, usedMemoryMb) } };
  }
}

/** The guest's own view when its balloon driver reports one, else what QEMU holds of it (capped at its memory). */
function memoryOf(fields: Map<string, string>): number {
  const available = numberField(fields, 'balloon.available');
  const unused = numberField(fields, 'balloon.unused');
  if (available !== undefined && unused !== undefined) return Math.max(0, available - unused) / 1024;
  const current = numberField(fields, 'balloon.current') ?? 0;
  const rss = numberField(fields, 'balloon.rss');
  return (rss !== undefined && current > 0 ? Math.min(rss, current) : current) / 1024;
}
