import type { Model } from './model.js';

/**
 * Where every VM is, with per-host sums kept up to date move by move, and the sums behind the
 * reference imbalance (FORMAT.md) so that the imbalance after any candidate move is O(1).
 */
export class Placement {
  readonly host: Int32Array;
  readonly cpu: Float64Array;
  readonly active: Float64Array;
  /** Configured memory of the powered-on VMs on each host (the capacity rule). */
  readonly mem: Float64Array;
  /** Utilizations cpu/capacity and active/capacity, for connected hosts. */
  readonly cpuUtil: Float64Array;
  readonly memUtil: Float64Array;
  readonly hostVms: number[][];
  /** VMs on each host that the plan so far brought there (the inflow cap counts them). */
  readonly arrivals: Int32Array;
  private readonly slot: Int32Array;
  /** Sums over connected hosts of the utilizations and of their squares (the reference imbalance). */
  sumCpu = 0;
  sqCpu = 0;
  sumMem = 0;
  sqMem = 0;
  private readonly n: number;
  /** Hosts touched by moves, in order (both ends of each move); readers keep their own cursor. */
  readonly changes: number[] = [];
  /** Bumped when the placement is replaced wholesale (reset, copyFrom): readers start over. */
  generation = 0;

  constructor(readonly model: Model, from?: Placement) {
    const H = model.hostCount;
    this.n = model.connectedCount;
    if (from) {
      this.host = from.host.slice();
      this.cpu = from.cpu.slice();
      this.active = from.active.slice();
      this.mem = from.mem.slice();
      this.cpuUtil = from.cpuUtil.slice();
      this.memUtil = from.memUtil.slice();
      this.hostVms = from.hostVms.map((list) => list.slice());
      this.arrivals = from.arrivals.slice();
      this.slot = from.slot.slice();
      this.sumCpu = from.sumCpu;
      this.sqCpu = from.sqCpu;
      this.sumMem = from.sumMem;
      this.sqMem = from.sqMem;
      return;
    }
    this.host = model.initialHost.slice();
    this.cpu = new Float64Array(H);
    this.active = new Float64Array(H);
    this.mem = new Float64Array(H);
    this.cpuUtil = new Float64Array(H);
    this.memUtil = new Float64Array(H);
    this.hostVms = Array.from({ length: H }, () => []);
    this.arrivals = new Int32Array(H);
    this.slot = new Int32Array(model.vmCount);
    for (let v = 0; v < model.vmCount; v++) {
      const h = this.host[v];
      this.cpu[h] += model.vmCpu[v];
      this.active[h] += model.vmActive[v];
      this.mem[h] += model.vmMem[v];
      this.slot[v] = this.hostVms[h].length;
      this.hostVms[h].push(v);
    }
    this.recomputeSums();
  }

  /** Back to the snapshot's placement. */
  reset(): void {
    this.copyFrom(new Placement(this.model));
  }

  clone(): Placement {
    return new Placement(this.model, this);
  }

  /** Becomes a copy of `src` (same model). */
  copyFrom(src: Placement): void {
    this.generation++;
    this.changes.length = 0;
    this.host.set(src.host);
    this.cpu.set(src.cpu);
    this.active.set(src.active);
    this.mem.set(src.mem);
    this.cpuUtil.set(src.cpuUtil);
    this.memUtil.set(src.memUtil);
    this.slot.set(src.slot);
    this.arrivals.set(src.arrivals);
    src.hostVms.forEach((list, h) => (this.hostVms[h] = list.slice()));
    this.sumCpu = src.sumCpu;
    this.sqCpu = src.sqCpu;
    this.sumMem = src.sumMem;
    this.sqMem = src.sqMem;
  }

  /** Recomputes the imbalance sums from scratch (removes drift of the incremental updates). */
  recomputeSums(): void {
    const m = this.model;
    this.sumCpu = this.sqCpu = this.sumMem = this.sqMem = 0;
    for (let h = 0; h < m.hostCount; h++) {
      if (!m.connected[h]) continue;
      const c = this.cpu[h] / m.cpuCapacity[h];
      const a = this.active[h] / m.memCapacity[h];
      this.cpuUtil[h] = c;
      this.memUtil[h] = a;
      this.sumCpu += c;
      this.sqCpu += c * c;
      this.sumMem += a;
      this.sqMem += a * a;
    }
  }

  move(v: number, to: number): void {
    const m = this.model;
    const from = this.host[v];
    if (from === to) return;
    this.changes.push(from, to);
    // Detach from the old host's list (swap with the last element).
    const list = this.hostVms[from];
    const last = list.pop() as number;
    if (last !== v) {
      const s = this.slot[v];
      list[s] = last;
      this.slot[last] = s;
    }
    this.slot[v] = this.hostVms[to].length;
    this.hostVms[to].push(v);
    this.host[v] = to;
    const home = m.initialHost[v];
    if (from !== home) this.arrivals[from]--;
    if (to !== home) this.arrivals[to]++;

    const c = m.vmCpu[v];
    const a = m.vmActive[v];
    this.cpu[from] -= c;
    this.active[from] -= a;
    this.mem[from] -= m.vmMem[v];
    this.cpu[to] += c;
    this.active[to] += a;
    this.mem[to] += m.vmMem[v];
    if (c === 0 && a === 0) return;
    if (m.connected[from]) this.retune(from);
    if (m.connected[to]) this.retune(to);
  }

  private retune(h: number): void {
    const m = this.model;
    const oc = this.cpuUtil[h];
    const om = this.memUtil[h];
    const nc = this.cpu[h] / m.cpuCapacity[h];
    const nm = this.active[h] / m.memCapacity[h];
    this.cpuUtil[h] = nc;
    this.memUtil[h] = nm;
    this.sumCpu += nc - oc;
    this.sqCpu += nc * nc - oc * oc;
    this.sumMem += nm - om;
    this.sqMem += nm * nm - om * om;
  }

  /** The reference imbalance of the current placement. */
  imbalance(): number {
    return this.imbalanceOf(this.sumCpu, this.sqCpu, this.sumMem, this.sqMem);
  }

  meanCpu(): number {
    return this.n === 0 ? 0 : this.sumCpu / this.n;
  }

  meanMem(): number {
    return this.n === 0 ? 0 : this.sumMem / this.n;
  }

  sdCpu(): number {
    return sd(this.sumCpu, this.sqCpu, this.n);
  }

  sdMem(): number {
    return sd(this.sumMem, this.sqMem, this.n);
  }

  /** The reference imbalance if VM v moved to host `to` (v's current host is the source). */
  imbalanceIfMoved(v: number, to: number): number {
    const m = this.model;
    const from = this.host[v];
    const c = m.vmCpu[v];
    const a = m.vmActive[v];
    let sc = this.sumCpu;
    let qc = this.sqCpu;
    let sm = this.sumMem;
    let qm = this.sqMem;
    if (m.connected[from]) {
      const oc = this.cpuUtil[from];
      const om = this.memUtil[from];
      const nc = (this.cpu[from] - c) / m.cpuCapacity[from];
      const nm = (this.active[from] - a) / m.memCapacity[from];
      sc += nc - oc;
      qc += nc * nc - oc * oc;
      sm += nm - om;
      qm += nm * nm - om * om;
    }
    if (m.connected[to]) {
      const oc = this.cpuUtil[to];
      const om = this.memUtil[to];
      const nc = (this.cpu[to] + c) / m.cpuCapacity[to];
      const nm = (this.active[to] + a) / m.memCapacity[to];
      sc += nc - oc;
      qc += nc * nc - oc * oc;
      sm += nm - om;
      qm += nm * nm - om * om;
    }
    return this.imbalanceOf(sc, qc, sm, qm);
  }

  private imbalanceOf(sc: number, qc: number, sm: number, qm: number): number {
    return this.model.weightCpu * sd(sc, qc, this.n) + this.model.weightMem * sd(sm, qm, this.n);
  }
}

export function sd(sum: number, sq: number, n: number): number {
  if (n === 0) return 0;
  const mean = sum / n;
  const variance = sq / n - mean * mean;
  return variance > 0 ? Math.sqrt(variance) : 0;
}

/** The reference imbalance of FORMAT.md, computed directly from the placement's host sums. */
export function exactImbalance(p: Placement): number {
  p.recomputeSums();
  return p.imbalance();
}
