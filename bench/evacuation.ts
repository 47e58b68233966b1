/**
 * npm run bench:evacuation: how fast Ballast empties a host, in simulated time, against the physical
 * bound (the host's configured VM memory over its migration link). The moves are the maintenance
 * admission's own plan (planEvacuation), started in plan order under the dispatcher's own limits
 * (admit: 8 per host, link limits), and run through the simulated engine's pre-copy model with
 * shared links (SharedLinkSimulation): the same code paths as the service, without the clock.
 */
import { DEFAULT_LINK_MBPS, admit, type MigrationLimits, type SlotUser } from '../src/migrations/admission.js';
import { planEvacuation } from '../src/maintenance/evacuation.js';
import { applyMoves } from '../src/planner/index.js';
import type { Snapshot, SnapshotHost, SnapshotVm } from '../src/planner/snapshot.js';
import { BYTES_PER_MIB, BYTES_PER_MS_PER_MBPS } from '../src/engine/simulated/precopy-model.js';
import { SharedLinkSimulation } from '../src/engine/simulated/shared-link-simulation.js';

const LIMITS: MigrationLimits = { perHost: 8, perCluster: 64 };
/** 100 VMs of mixed sizes (GiB): 920 GiB in all. */
const MIX: [count: number, gib: number][] = [
  [20, 2],
  [30, 4],
  [25, 8],
  [15, 16],
  [10, 32],
];

interface EvacuationRun {
  vms: number;
  memoryMb: number;
  simulatedMs: number;
  boundMs: number;
  failed: number;
  peakOnSource: number;
}

function host(id: string, memoryGib: number): SnapshotHost {
  return { id, cpuCapacityMhz: 400_000, memoryCapacityMb: memoryGib * 1024, state: 'connected', networks: ['prod'], datastores: ['ds-1'], migrationBandwidthMbps: DEFAULT_LINK_MBPS };
}

/** VMs of the mix on `hostId`, interleaved so that the host's list is not sorted by size. */
function mixedVms(prefix: string, hostId: string, scale = 1): SnapshotVm[] {
  const sizes = MIX.flatMap(([count, gib]) => Array.from({ length: Math.round(count * scale) }, () => gib));
  const interleaved = sizes.map((gib, i) => sizes[(i * 37) % sizes.length] ?? gib);
  return interleaved.map((gib, i) => ({
    id: `${prefix}-${String(i + 1).padStart(3, '0')}`,
    hostId,
    vcpus: Math.max(1, gib / 4),
    memoryMb: gib * 1024,
    cpuDemandMhz: 500 * Math.max(1, gib / 4),
    memoryActiveMb: gib * 512,
    powerState: 'on',
    networks: ['prod'],
    datastores: ['ds-1'],
  }));
}

function cluster(hosts: SnapshotHost[], vms: SnapshotVm[]): Snapshot {
  return {
    version: 1,
    cluster: { id: 'bench', name: 'bench' },
    policy: { automationLevel: 'fully-automated', migrationThreshold: 3, resourceWeights: { cpu: 1, memory: 1 }, maxMovesPerRun: 50, memoryOvercommitRatio: 1 },
    hosts,
    vms,
    rules: [],
  };
}

/** Empties one host: admission's plan, started in order as slots free up, until the last VM is gone. */
function evacuate(snapshot: Snapshot, hostId: string): { run: EvacuationRun; after: Snapshot } {
  const evacuation = planEvacuation(snapshot, { hostId, includePoweredOff: false, unfinished: [] });
  if (evacuation.unfit.length > 0) throw new Error(`${evacuation.unfit.length} VMs of ${hostId} do not fit: ${evacuation.unfit[0].reason}`);
  const vms = new Map(snapshot.vms.map((vm) => [vm.id, vm]));
  const links = new Map(snapshot.hosts.map((h) => [h.id, h.migrationBandwidthMbps ?? null]));
  const pending = evacuation.moves.map((move, i) => ({ id: `m${i}`, move, vmId: move.vmId, sourceHostId: move.fromHostId, targetHostId: move.toHostId }));
  const inFlight = new Map<string, SlotUser>();
  const sim = new SharedLinkSimulation();
  let failed = 0;
  let peakOnSource = 0;
  while (pending.length > 0 || sim.inFlight > 0) {
    for (const next of admit({ slotHolders: [...inFlight.values()], candidates: pending, linkMbps: links, limits: LIMITS })) {
      pending.splice(pending.indexOf(next), 1);
      inFlight.set(next.id, next);
      const vm = vms.get(next.vmId)!;
      sim.start({
        id: next.id,
        kind: 'compute',
        memoryMb: vm.memoryMb,
        memoryDirtyRateMbps: vm.memoryDirtyRateMbps,
        source: { id: next.sourceHostId, migrationBandwidthMbps: links.get(next.sourceHostId) ?? undefined },
        target: { id: next.targetHostId, migrationBandwidthMbps: links.get(next.targetHostId) ?? undefined },
      });
    }
    peakOnSource = Math.max(peakOnSource, sim.inFlightOnHost(hostId));
    for (const done of sim.advance()) {
      inFlight.delete(done.id);
      if (done.status === 'failed') failed += 1;
    }
  }
  const memoryMb = evacuation.moves.reduce((sum, m) => sum + vms.get(m.vmId)!.memoryMb, 0);
  const linkMbps = links.get(hostId) ?? DEFAULT_LINK_MBPS;
  const boundMs = (memoryMb * BYTES_PER_MIB) / (linkMbps * BYTES_PER_MS_PER_MBPS);
  const after = applyMoves(
    { ...snapshot, hosts: snapshot.hosts.map((h) => (h.id === hostId ? { ...h, state: 'maintenance' as const } : h)) },
    evacuation.moves,
  );
  return { run: { vms: evacuation.moves.length, memoryMb, simulatedMs: sim.nowMs, boundMs, failed, peakOnSource }, after };
}

function line(label: string, run: EvacuationRun): string {
  const ratio = run.simulatedMs / run.boundMs;
  return `${label.padEnd(22)} ${String(run.vms).padStart(4)} VMs ${(run.memoryMb / 1024).toFixed(0).padStart(5)} GiB  ${(run.simulatedMs / 1000).toFixed(1).padStart(7)} s  bound ${(run.boundMs / 1000).toFixed(1).padStart(7)} s  ${ratio.toFixed(3)}x  peak ${run.peakOnSource} on the host, ${run.failed} failed`;
}

function main(): void {
  console.log('bench:evacuation — simulated time, 10 Gb/s links, at most 8 migrations per host, default guest dirty rate');

  const source = host('esx-src', 1024);
  const targets = Array.from({ length: 8 }, (_, i) => host(`esx-${String(i + 1).padStart(2, '0')}`, 512));
  const single = evacuate(cluster([source, ...targets], mixedVms('vm', source.id)), source.id).run;
  console.log(line('100-VM host', single));

  const hosts = Array.from({ length: 16 }, (_, i) => host(`h${String(i + 1).padStart(2, '0')}`, 512));
  let state = cluster(
    hosts,
    hosts.flatMap((h, i) => mixedVms(`${h.id}-vm`, h.id, i < 4 ? 0.25 : 0.1)),
  );
  let total = 0;
  for (const h of hosts.slice(0, 4)) {
    const { run, after } = evacuate(state, h.id);
    total += run.simulatedMs;
    console.log(line(`16 hosts: ${h.id} (then)`, run));
    state = after;
  }
  console.log(`16 hosts, 4 entering maintenance one after another: ${(total / 1000).toFixed(1)} s in all`);

  const ratio = single.simulatedMs / single.boundMs;
  console.log(`target <= 1.15x the bound for the 100-VM host: ${ratio <= 1.15 ? 'meets' : 'MISSES'}`);
  console.log(`evacuation: ${ratio.toFixed(3)} x of the bound (${(single.simulatedMs / 1000).toFixed(1)} s for ${(single.memoryMb / 1024).toFixed(0)} GB on 10 Gb/s)`);
}

main();
