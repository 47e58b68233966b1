import { Trace } from '../../src/metrics/trace.js';
import { mulberry32 } from '../../src/scenarios/generate.js';

/**
 * A generator of Bitbrains-like workload traces (GWA-T-12 "fastStorage" in shape): most VMs idle
 * along at a few per cent of their vCPUs, a few carry most of the load (log-normal levels, heavy
 * tail), many follow a working-day rhythm, load shifts level every few days (a new job, a batch
 * window), and bursts of minutes to hours with a heavy-tailed height come as a Poisson process.
 * Deterministic for a seed (mulberry32). Written as TRACE.md CSV text.
 */
export interface GeneratedTrace {
  vmsCsv: string;
  usageCsv: string;
  trace: Trace;
  /** Sum over VMs of the mean demand, MHz (to size the hosts). */
  meanTotalMhz: number;
}

const CORE_MHZ = 2600;

export function generateTrace(options: { seed: number; vms: number; days: number; stepSeconds?: number; start?: string }): GeneratedTrace {
  const rand = mulberry32(options.seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const step = options.stepSeconds ?? 300;
  const start = Date.parse(options.start ?? '2026-11-01T00:00:00Z');
  const steps = Math.floor((options.days * 86_400) / step);
  const vmLines = ['vm_id,cpu_count,cpu_capacity_mhz,mem_capacity_mb'];
  const series: Float64Array[] = [];
  let meanTotal = 0;
  for (let v = 0; v < options.vms; v++) {
    const cores = [1, 2, 2, 4, 4, 8][Math.floor(rand() * 6)];
    const capacity = cores * CORE_MHZ;
    const memory = cores * [2048, 4096, 4096, 8192][Math.floor(rand() * 4)];
    vmLines.push(`vm-${String(v + 1).padStart(3, '0')},${cores},${capacity},${memory}`);
    // Heavy tail across VMs: median 12 % of capacity, a few near their full vCPUs.
    let level = Math.min(0.85, 0.12 * Math.exp(0.9 * normal()));
    const diurnal = rand() < 0.6 ? 0.2 + rand() * 0.6 : 0;
    const peakHour = 9 + rand() * 8;
    const shiftEvery = (2 + rand() * 6) * 86_400; // seconds between level shifts, on average
    const burstRate = (0.3 + rand() * 1.5) / 86_400; // bursts per second
    let burstLeft = 0;
    let burstHeight = 0;
    let noise = 0;
    const values = new Float64Array(steps);
    for (let i = 0; i < steps; i++) {
      const t = i * step;
      if (rand() < step / shiftEvery) level = Math.min(0.85, Math.max(0.01, level * Math.exp(0.6 * normal())));
      if (burstLeft <= 0 && rand() < burstRate * step) {
        burstLeft = Math.max(step, 1800 * Math.exp(1.0 * normal())); // median 30 min, some hours
        burstHeight = 1.5 + 3 * rand() ** 2;
      }
      const hour = ((t / 3600) % 24 + 24) % 24;
      const day = Math.floor(t / 86_400) % 7;
      const working = day < 5 ? 1 : 0.4;
      const rhythm = diurnal > 0 ? 1 - diurnal + diurnal * working * Math.max(0, Math.cos(((hour - peakHour) / 24) * 2 * Math.PI)) * 1.6 : 1;
      noise = 0.7 * noise + 0.3 * normal();
      let u = level * rhythm * Math.exp(0.25 * noise);
      if (burstLeft > 0) {
        u *= burstHeight;
        burstLeft -= step;
      }
      values[i] = Math.min(capacity, Math.max(0, u * capacity));
    }
    series.push(values);
    meanTotal += values.reduce((a, b) => a + b, 0) / steps;
  }
  const usage = ['timestamp,vm_id,duration_s,cpu_usage_mhz'];
  for (let i = 0; i < steps; i++) {
    const ts = new Date(start + i * step * 1000).toISOString();
    for (let v = 0; v < options.vms; v++) usage.push(`${ts},vm-${String(v + 1).padStart(3, '0')},${step},${series[v][i].toFixed(1)}`);
  }
  const vmsCsv = `${vmLines.join('\n')}\n`;
  const usageCsv = `${usage.join('\n')}\n`;
  return { vmsCsv, usageCsv, trace: Trace.parse(vmsCsv, usageCsv, `seed-${options.seed}-`), meanTotalMhz: meanTotal };
}
