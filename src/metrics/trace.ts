import { readFileSync } from 'node:fs';

/**
 * A workload trace in the format of docs/TRACE.md (`vms.csv` and `usage.csv`), read
 * into arrays for lookups by time: the demand of a VM at a time is that of its last row at or
 * before it (before its first row, its first row's).
 */
export interface TraceVm {
  id: string;
  cpuCount: number;
  cpuCapacityMhz: number;
  memCapacityMb: number;
}

export class TraceError extends Error {}

export class Trace {
  /** ms of the first row and just after the last one ends. */
  readonly start: number;
  readonly end: number;

  private constructor(
    readonly vms: readonly TraceVm[],
    private readonly usage: ReadonlyMap<string, { at: Float64Array; cpuMhz: Float64Array }>,
    start: number,
    end: number,
  ) {
    this.start = start;
    this.end = end;
  }

  static fromFiles(prefix: string): Trace {
    return Trace.parse(readFileSync(`${prefix}vms.csv`, 'utf8'), readFileSync(`${prefix}usage.csv`, 'utf8'), prefix);
  }

  static parse(vmsCsv: string, usageCsv: string, name = 'trace'): Trace {
    const vms = rows(vmsCsv, ['vm_id', 'cpu_count', 'cpu_capacity_mhz', 'mem_capacity_mb'], `${name}vms.csv`).map(([id, count, mhz, mb], i) => ({
      id,
      cpuCount: positive(count, `${name}vms.csv line ${i + 2}: cpu_count`),
      cpuCapacityMhz: positive(mhz, `${name}vms.csv line ${i + 2}: cpu_capacity_mhz`),
      memCapacityMb: positive(mb, `${name}vms.csv line ${i + 2}: mem_capacity_mb`),
    }));
    const known = new Set(vms.map((v) => v.id));
    const collected = new Map<string, { at: number[]; cpuMhz: number[] }>();
    let start = Infinity;
    let end = -Infinity;
    rows(usageCsv, ['timestamp', 'vm_id', 'duration_s', 'cpu_usage_mhz'], `${name}usage.csv`).forEach(([timestamp, vmId, duration, cpu], i) => {
      const where = `${name}usage.csv line ${i + 2}`;
      const at = Date.parse(timestamp);
      if (!Number.isFinite(at)) throw new TraceError(`${where}: timestamp is not ISO 8601: "${timestamp}"`);
      if (!known.has(vmId)) throw new TraceError(`${where}: VM "${vmId}" is not in vms.csv`);
      const mhz = Number(cpu);
      if (cpu === '' || !Number.isFinite(mhz) || mhz < 0) throw new TraceError(`${where}: cpu_usage_mhz must be a number >= 0, got "${cpu}"`);
      const seconds = positive(duration, `${where}: duration_s`);
      let series = collected.get(vmId);
      if (!series) collected.set(vmId, (series = { at: [], cpuMhz: [] }));
      if (series.at.length > 0 && at < series.at[series.at.length - 1]) throw new TraceError(`${where}: rows of ${vmId} are not in time order`);
      series.at.push(at);
      series.cpuMhz.push(mhz);
      start = Math.min(start, at);
      end = Math.max(end, at + seconds * 1000);
    });
    if (collected.size === 0) throw new TraceError(`${name}usage.csv has no samples`);
    const usage = new Map([...collected].map(([id, s]) => [id, { at: Float64Array.from(s.at), cpuMhz: Float64Array.from(s.cpuMhz) }]));
    return new Trace(vms, usage, start, end);
  }

  /** The CPU demand of a trace VM at `at` (ms), or null when the trace has no row of it. */
  cpuAt(vmId: string, at: number): number | null {
    const series = this.usage.get(vmId);
    if (!series) return null;
    let lo = 0;
    let hi = series.at.length - 1;
    if (at < series.at[0]) return series.cpuMhz[0];
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (series.at[mid] <= at) lo = mid;
      else hi = mid - 1;
    }
    return series.cpuMhz[lo];
  }

  /** A time of the trace for any time: the trace repeats itself, end after end. */
  replayTime(at: number): number {
    const length = this.end - this.start;
    return this.start + ((((at - this.start) % length) + length) % length);
  }
}

function rows(csv: string, header: readonly string[], file: string): string[][] {
  const lines = csv.split(/\r?\n/).filter((line) => line.trim() !== '');
  if (lines.length === 0 || lines[0].split(',').map((h) => h.trim()).join(',') !== header.join(',')) {
    throw new TraceError(`${file}: the header must be ${header.join(',')}`);
  }
  return lines.slice(1).map((line, i) => {
    const cells = line.split(',').map((c) => c.trim());
    if (cells.length !== header.length) throw new TraceError(`${file} line ${i + 2}: expected ${header.length} columns, got ${cells.length}`);
    return cells;
  });
}

function positive(raw: string, what: string): number {
  const value = Number(raw);
  if (raw === '' || !Number.isFinite(value) || value <= 0) throw new TraceError(`${what} must be a number > 0, got "${raw}"`);
  return value;
}
