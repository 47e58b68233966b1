import { ballastBalancer, noBalancing, runSimulation, type Balancer, type SimulationFigures, type SimulationSetup } from '../src/closedloop/simulation.js';
import { thresholdLevel } from '../src/planner/thresholds.js';
import { greedyPlan } from './greedy.js';
import { generateTrace } from './support/bitbrains-like.js';

/**
 * bench:simulate — Ballast's closed loop on Bitbrains-like 30-day traces of 50 VMs (several seeds),
 * beside no balancing and a greedy balancer that runs every 5 minutes on the measured load (best
 * single moves while a host is above 80 % or the imbalance above the threshold's target).
 * Quality target: overloaded host-hours at most 20 % of no balancing's, at most 0.2 migrations per
 * VM-day, a peak no higher than without balancing.
 */
const SEEDS = (process.env.BENCH_SEEDS ?? '1,2,3,4,5').split(',').map(Number);
const VMS = 50;
const DAYS = 30;
const HOST_CPU_MHZ = 12 * 2600;
const HOST_MEMORY_MB = 384 * 1024;
/** Hosts sized for a mean utilization of about 40 %: round-robin then overloads some of them. */
const TARGET_UTILIZATION = 0.4;

function greedyEvery5Minutes(threshold: number): Balancer {
  const target = thresholdLevel(threshold).targetImbalance ?? 0;
  return {
    decide({ measured }) {
      const result = greedyPlan(measured, { maxMoves: 3, minGain: 0.005 });
      const hot = measured.hosts.some((h) => {
        const load = measured.vms.filter((v) => v.hostId === h.id).reduce((s, v) => s + v.cpuDemandMhz, 0);
        return load / h.cpuCapacityMhz > 0.8;
      });
      return hot || result.plan.imbalanceBefore > target ? result.plan.moves : [];
    },
  };
}

const fmt = (f: SimulationFigures) =>
  `${f.overloadedHostHours.toFixed(1).padStart(7)} h  peak ${(f.peakHostCpu * 100).toFixed(0).padStart(3)} %  imb ${f.avgImbalance.toFixed(3)}  ` +
  `${String(f.migrations).padStart(5)} moves  ${f.migrationsPerVmDay.toFixed(3)}/VM-day  ${f.gbMoved.toFixed(0).padStart(6)} GB`;

const rows: { seed: number; hosts: number; ratio: number; greedyRatio: number; ballast: SimulationFigures; greedy: SimulationFigures; none: SimulationFigures; ms: number }[] = [];
const rows2: { ratio: number; ballast: SimulationFigures; none: SimulationFigures }[] = [];
for (const seed of SEEDS) {
  const g = generateTrace({ seed, vms: VMS, days: DAYS });
  const hosts = Math.max(2, Math.round(g.meanTotalMhz / (HOST_CPU_MHZ * TARGET_UTILIZATION)));
  const setup: SimulationSetup = { trace: g.trace, hosts, hostCpuMhz: HOST_CPU_MHZ, hostMemoryMb: HOST_MEMORY_MB, intervalSeconds: 300, threshold: 3 };
  const t0 = performance.now();
  const ballast = runSimulation(setup, ballastBalancer()).figures;
  const ms = performance.now() - t0;
  const ballast2 = runSimulation({ ...setup, threshold: 2 }, ballastBalancer()).figures;
  const none = runSimulation(setup, noBalancing).figures;
  const greedy = runSimulation(setup, greedyEvery5Minutes(3)).figures;
  const ratio = none.overloadedHostHours === 0 ? 0 : ballast.overloadedHostHours / none.overloadedHostHours;
  const greedyRatio = none.overloadedHostHours === 0 ? 0 : greedy.overloadedHostHours / none.overloadedHostHours;
  rows.push({ seed, hosts, ratio, greedyRatio, ballast, greedy, none, ms });
  console.log(`seed ${seed}: ${VMS} VMs, ${DAYS} days, ${hosts} hosts of ${HOST_CPU_MHZ} MHz (Ballast replay ${(ms / 1000).toFixed(1)} s)`);
  console.log(`  no balancing ${fmt(none)}`);
  console.log(`  greedy 5 min ${fmt(greedy)}   ${(greedyRatio * 100).toFixed(0)} % of no balancing`);
  console.log(`  Ballast t=3  ${fmt(ballast)}   ${(ratio * 100).toFixed(0)} % of no balancing`);
  const ratio2 = none.overloadedHostHours === 0 ? 0 : ballast2.overloadedHostHours / none.overloadedHostHours;
  console.log(`  Ballast t=2  ${fmt(ballast2)}   ${(ratio2 * 100).toFixed(0)} % of no balancing`);
  rows2.push({ ratio: ratio2, ballast: ballast2, none });
}
const met = (r: { ratio: number; ballast: SimulationFigures; none: SimulationFigures }) =>
  r.ratio <= 0.2 && r.ballast.migrationsPerVmDay <= 0.2 && r.ballast.peakHostCpu <= r.none.peakHostCpu + 1e-9;
console.log('\nquality target (<= 20 % overloaded host-hours, <= 0.2 migrations/VM-day, peak not above no balancing):');
console.log(`  threshold 3 (default): met on ${rows.filter(met).length} of ${rows.length} seeds`);
console.log(`  threshold 2:           met on ${rows2.filter(met).length} of ${rows2.length} seeds`);
