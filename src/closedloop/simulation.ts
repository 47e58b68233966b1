import { linkShareMbps } from '../engine/link-share.js';
import { BYTES_PER_MIB, PrecopyMigration } from '../engine/simulated/precopy-model.js';
import { StreamSmoother } from '../metrics/smoothing.js';
import type { Trace } from '../metrics/trace.js';
import { populationSd } from '../planner/imbalance.js';
import type { Move, Policy, Snapshot, SnapshotVm } from '../planner/snapshot.js';
import type { MoveRecord } from './anti-thrash.js';
import type { Detection } from './detection.js';
import { evaluate } from './evaluate.js';

/**
 * `ballast simulate`: a trace (TRACE.md) replayed on N identical hosts in virtual time, VMs first
 * placed round-robin in file order. Every interval each VM's sample of the trace is fed to the
 * service's smoothing; a balancer sees the cluster (Ballast: the smoothed demand, through the same
 * `evaluate` as the service) and its moves take the simulated engine's pre-copy time (the VM
 * loads its source until its switchover). The figures are taken on the measured (unsmoothed)
 * demand at every interval: the CPU a host really had to serve.
 */
export const OVERLOAD_LINE = 0.8;
const GIB = 1024 * BYTES_PER_MIB;
const LINK_MBPS = 10_000;

export interface SimulationSetup {
  trace: Trace;
  hosts: number;
  hostCpuMhz: number;
  hostMemoryMb: number;
  intervalSeconds: number;
  /** The policy's migrationThreshold (default 3). */
  threshold: number;
  /** Further policy fields for Ballast (holdMinutes, maxMigrationsPerVmDay, ...). */
  policy?: Partial<Policy>;
}

export interface BalancerInput {
  /** The cluster with the smoothed demand, VMs in flight on their targets (and disabled). */
  smoothed: Snapshot;
  /** The same with the demand measured this interval. */
  measured: Snapshot;
  now: number;
  history: readonly MoveRecord[];
}

export interface Balancer {
  decide(input: BalancerInput): Move[];
}

export interface SimulationFigures {
  /** Time-averaged reference imbalance (CPU: the trace measures CPU only). */
  avgImbalance: number;
  /** Host-hours with a host's CPU demand above 80 % of its capacity, counted per interval. */
  overloadedHostHours: number;
  /** Highest CPU demand / capacity of any host at any interval. */
  peakHostCpu: number;
  migrations: number;
  /** Bytes sent by the migrations (pre-copy passes included), in GiB. */
  gbMoved: number;
  migrationsPerVmDay: number;
}

export interface SimulationRun {
  figures: SimulationFigures;
  series: { at: number[]; imbalance: number[]; hottestCpu: number[] };
}

/** No balancing at all: the round-robin start, kept. */
export const noBalancing: Balancer = { decide: () => [] };

/** Ballast's closed loop: evaluate() with the detections it left open last time. */
export function ballastBalancer(log?: string[]): Balancer {
  let previous: Detection[] = [];
  return {
    decide({ smoothed, now, history }) {
      const result = evaluate({ snapshot: smoothed, now, previous, history });
      previous = result.detections;
      if (result.moves.length > 0 && log && log.length < 1000) log.push(`${new Date(now).toISOString()} ${result.summary}`);
      return result.moves;
    },
  };
}

interface InFlight {
  vm: number;
  to: number;
  switchAt: number;
}

export function simulationPolicy(setup: SimulationSetup): Policy {
  return {
    automationLevel: 'fully-automated',
    migrationThreshold: setup.threshold,
    // The trace measures CPU only; memory counts for capacity (configured size), not for balance.
    resourceWeights: { cpu: 1, memory: 0 },
    maxMovesPerRun: 50,
    memoryOvercommitRatio: 1,
    ...setup.policy,
  };
}

export function runSimulation(setup: SimulationSetup, balancer: Balancer): SimulationRun {
  const { trace } = setup;
  const policy = simulationPolicy(setup);
  const hostIds = Array.from({ length: setup.hosts }, (_, i) => `host-${String(i + 1).padStart(2, '0')}`);
  const vmCount = trace.vms.length;
  const where = Int32Array.from(trace.vms, (_, i) => i % setup.hosts);
  const smoothers = trace.vms.map(() => new StreamSmoother());
  const smoothed = new Float64Array(vmCount);
  const measured = new Float64Array(vmCount);
  const history: MoveRecord[] = [];
  const inFlight: InFlight[] = [];
  const hostIndex = new Map(hostIds.map((id, i) => [id, i]));
  const vmIndex = new Map(trace.vms.map((vm, i) => [vm.id, i]));
  const hosts = hostIds.map((id) => ({
    id,
    cpuCapacityMhz: setup.hostCpuMhz,
    memoryCapacityMb: setup.hostMemoryMb,
    state: 'connected' as const,
    networks: [],
    datastores: [],
    migrationBandwidthMbps: LINK_MBPS,
  }));
  const step = setup.intervalSeconds * 1000;
  const series: SimulationRun['series'] = { at: [], imbalance: [], hottestCpu: [] };
  let migrations = 0;
  let bytes = 0;
  let overloadedHours = 0;
  let peak = 0;
  let imbalanceSum = 0;
  let ticks = 0;

  const snapshotOf = (demand: Float64Array, now: number): Snapshot => {
    const flying = new Map(inFlight.map((f) => [f.vm, f.to]));
    const vms: SnapshotVm[] = trace.vms.map((vm, i) => ({
      id: vm.id,
      hostId: hostIds[flying.get(i) ?? where[i]],
      vcpus: vm.cpuCount,
      memoryMb: vm.memCapacityMb,
      cpuDemandMhz: demand[i],
      memoryActiveMb: 0,
      powerState: 'on',
      ...(flying.has(i) ? { automationLevel: 'disabled' as const } : {}),
      networks: [],
      datastores: [],
    }));
    return { version: 1, cluster: { id: 'simulated', name: 'simulated' }, takenAt: new Date(now).toISOString(), policy, hosts, vms, rules: [] };
  };

  for (let now = trace.start; now < trace.end; now += step) {
    // Migrations whose switchover is due: the VM now runs on its target.
    for (let i = inFlight.length - 1; i >= 0; i--) {
      if (inFlight[i].switchAt > now) continue;
      where[inFlight[i].vm] = inFlight[i].to;
      inFlight.splice(i, 1);
    }
    for (let v = 0; v < vmCount; v++) {
      const value = trace.cpuAt(trace.vms[v].id, now) ?? 0;
      measured[v] = value;
      smoothers[v].push({ at: now, value });
      smoothed[v] = smoothers[v].valueAt(now) ?? value;
    }

    const load = new Float64Array(setup.hosts);
    for (let v = 0; v < vmCount; v++) load[where[v]] += measured[v];
    const util = Array.from(load, (x) => x / setup.hostCpuMhz);
    const hottest = Math.max(...util);
    overloadedHours += (util.filter((u) => u > OVERLOAD_LINE).length * step) / 3_600_000;
    peak = Math.max(peak, hottest);
    const imbalance = populationSd(util);
    imbalanceSum += imbalance;
    ticks++;
    series.at.push(now);
    series.imbalance.push(imbalance);
    series.hottestCpu.push(hottest);

    const moves = balancer.decide({ smoothed: snapshotOf(smoothed, now), measured: snapshotOf(measured, now), now, history });
    // Moves of one run share the hosts' links; each takes its pre-copy time at its share.
    const perHost = new Int32Array(setup.hosts);
    const started = moves.map((m) => {
      const from = hostIndex.get(m.fromHostId) as number;
      const to = hostIndex.get(m.toHostId) as number;
      perHost[from]++;
      perHost[to]++;
      return { m, v: vmIndex.get(m.vmId) as number, from, to };
    });
    for (const { m, v, from, to } of started) {
      const model = new PrecopyMigration({ kind: 'compute', memoryMb: trace.vms[v].memCapacityMb });
      model.runToEnd(linkShareMbps(LINK_MBPS, perHost[from], LINK_MBPS, perHost[to]));
      const outcome = model.outcome();
      if (model.status !== 'succeeded') continue;
      inFlight.push({ vm: v, to, switchAt: now + outcome.totalTimeMs });
      history.push({ vmId: m.vmId, fromHostId: m.fromHostId, toHostId: m.toHostId, at: now, mandatory: m.priority === 1 });
      migrations++;
      bytes += outcome.transferredBytes;
    }
    // The anti-thrash rules and the budget look back one day.
    while (history.length > 0 && now - history[0].at > 2 * 24 * 3_600_000) history.shift();
  }
  const days = (trace.end - trace.start) / 86_400_000;
  return {
    figures: {
      avgImbalance: ticks === 0 ? 0 : imbalanceSum / ticks,
      overloadedHostHours: overloadedHours,
      peakHostCpu: peak,
      migrations,
      gbMoved: bytes / GIB,
      migrationsPerVmDay: vmCount === 0 || days === 0 ? 0 : migrations / (vmCount * days),
    },
    series,
  };
}
