import type { Move, Plan, Snapshot, Unresolved } from '../src/planner/snapshot.js';

/**
 * The reference the planner is measured against: "greedy best single move". It shares no code with
 * the planner (only the snapshot types) and respects the same hard constraints:
 * - mandatory first: every VM on an entering-maintenance host, then every broken must rule, each
 *   step taking the mandatory move that leaves the lowest reference imbalance;
 * - then balancing: each step tries every movable VM on every host and takes the move that lowers
 *   the reference imbalance most; it stops when the best gain is below 1e-4 or after maxMoves.
 * Constraints: target connected; compatibility group; networks and datastores; configured memory of
 * powered-on VMs <= capacity x overcommit; CPU demand <= capacity x maxCpuUtilization; disabled VMs
 * never move; manual and cooling VMs only move when mandatory; must anti-affinity and vm-host rules
 * hold for every moved VM; a must vm-affinity group moves only as a whole (mandatory) or not at all.
 */
export interface GreedyOptions {
  maxMoves?: number;
  /** Stop balancing after this much wall time (the 500-host case); reported in the result. */
  timeBudgetMs?: number;
  minGain?: number;
}

export interface GreedyResult {
  plan: Plan;
  /** True when the time budget cut balancing short. */
  capped: boolean;
  balancingMoves: number;
}

export function greedyPlan(snapshot: Snapshot, options: GreedyOptions = {}): GreedyResult {
  return new Greedy(snapshot, options).run();
}

class Greedy {
  private readonly H: number;
  private readonly V: number;
  private readonly hostIdx = new Map<string, number>();
  private readonly vmIdx = new Map<string, number>();
  private readonly at: Int32Array;
  private readonly cpu: Float64Array;
  private readonly act: Float64Array;
  private readonly cfg: Float64Array;
  private readonly isConnected: boolean[];
  private readonly n: number;
  private readonly wc: number;
  private readonly wm: number;
  /** ok[v][h]: static placement constraints (group, networks, datastores, connected, vm-host must rules). */
  private readonly staticOk: Uint8Array[];
  private readonly antiPeers: number[][];
  private readonly affinityGroup: Int32Array;
  private readonly affinityMembers: number[][] = [];
  private readonly cooling: boolean[];
  private readonly moves: Move[] = [];
  private readonly unresolved: Unresolved[] = [];

  constructor(
    private readonly s: Snapshot,
    private readonly options: GreedyOptions,
  ) {
    const { hosts, vms, policy } = s;
    this.H = hosts.length;
    this.V = vms.length;
    hosts.forEach((h, i) => this.hostIdx.set(h.id, i));
    vms.forEach((v, i) => this.vmIdx.set(v.id, i));
    this.at = Int32Array.from(vms, (v) => this.hostIdx.get(v.hostId) as number);
    this.cpu = new Float64Array(this.H);
    this.act = new Float64Array(this.H);
    this.cfg = new Float64Array(this.H);
    vms.forEach((v, i) => {
      if (v.powerState !== 'on') return;
      this.cpu[this.at[i]] += v.cpuDemandMhz;
      this.act[this.at[i]] += v.memoryActiveMb;
      this.cfg[this.at[i]] += v.memoryMb;
    });
    this.isConnected = hosts.map((h) => h.state === 'connected');
    this.n = this.isConnected.filter(Boolean).length;
    const w = policy.resourceWeights;
    this.wc = w.cpu / (w.cpu + w.memory);
    this.wm = w.memory / (w.cpu + w.memory);

    const rules = s.rules.filter((r) => r.enabled !== false && r.mode === 'must');
    this.antiPeers = vms.map(() => []);
    this.affinityGroup = new Int32Array(this.V).fill(-1);
    const allowedBy: (Set<number> | null)[] = vms.map(() => null);
    const forbiddenBy: Set<number>[] = vms.map(() => new Set());
    for (const r of rules) {
      const ids = r.vmIds.map((id) => this.vmIdx.get(id) as number);
      if (r.kind === 'vm-anti-affinity') {
        for (const a of ids) for (const b of ids) if (a !== b) this.antiPeers[a].push(b);
      } else if (r.kind === 'vm-affinity') {
        // Merge overlapping groups.
        const groups = new Set(ids.map((v) => this.affinityGroup[v]).filter((g) => g >= 0));
        const merged = new Set<number>(ids);
        for (const g of groups) for (const v of this.affinityMembers[g]) merged.add(v);
        const id = this.affinityMembers.length;
        this.affinityMembers.push([...merged].sort((a, b) => a - b));
        for (const g of groups) this.affinityMembers[g] = [];
        for (const v of merged) this.affinityGroup[v] = id;
      } else {
        const set = new Set((r.hostIds ?? []).map((id) => this.hostIdx.get(id) as number));
        for (const v of ids) {
          if (r.kind === 'vm-host-affinity') {
            const prev = allowedBy[v];
            allowedBy[v] = prev === null ? set : new Set([...prev].filter((h) => set.has(h)));
          } else {
            for (const h of set) forbiddenBy[v].add(h);
          }
        }
      }
    }

    this.staticOk = vms.map((vm, v) => {
      const home = hosts[this.at[v]];
      const group = vm.compatibilityGroup ?? home.compatibilityGroup;
      const ok = new Uint8Array(this.H);
      hosts.forEach((h, i) => {
        ok[i] =
          h.state === 'connected' &&
          h.compatibilityGroup === group &&
          vm.networks.every((x) => h.networks.includes(x)) &&
          vm.datastores.every((x) => h.datastores.includes(x)) &&
          (allowedBy[v] === null || (allowedBy[v] as Set<number>).has(i)) &&
          !forbiddenBy[v].has(i)
            ? 1
            : 0;
      });
      return ok;
    });

    const now = s.takenAt === undefined ? NaN : Date.parse(s.takenAt);
    const cooldownMs = (policy.migrationCooldownMinutes ?? 0) * 60_000;
    this.cooling = vms.map((v) => v.lastMigratedAt !== undefined && cooldownMs > 0 && now - Date.parse(v.lastMigratedAt) < cooldownMs);
  }

  run(): GreedyResult {
    const before = this.imbalance();
    this.evacuate();
    this.repairRules();
    const { capped, balancingMoves } = this.balance();
    this.reportLeftovers();
    const plan: Plan = {
      version: 1,
      clusterId: this.s.cluster.id,
      moves: this.moves,
      imbalanceBefore: before,
      imbalanceAfter: this.imbalance(),
      unresolved: this.unresolved,
    };
    return { plan, capped, balancingMoves };
  }

  // ---- imbalance ---------------------------------------------------------------------------

  private imbalance(): number {
    return this.fromSums(...this.sums());
  }

  /** Sums over connected hosts of CPU and memory utilization and their squares, with optional load deltas per host. */
  private sums(dc?: ReadonlyMap<number, number>, dm?: ReadonlyMap<number, number>): [number, number, number, number] {
    let sc = 0;
    let qc = 0;
    let sm = 0;
    let qm = 0;
    for (let h = 0; h < this.H; h++) {
      if (!this.isConnected[h]) continue;
      const c = (this.cpu[h] + (dc?.get(h) ?? 0)) / this.s.hosts[h].cpuCapacityMhz;
      const m = (this.act[h] + (dm?.get(h) ?? 0)) / this.s.hosts[h].memoryCapacityMb;
      sc += c;
      qc += c * c;
      sm += m;
      qm += m * m;
    }
    return [sc, qc, sm, qm];
  }

  private fromSums(sc: number, qc: number, sm: number, qm: number): number {
    const sd = (s: number, q: number) => Math.sqrt(Math.max(0, q / this.n - (s / this.n) ** 2));
    return this.wc * sd(sc, qc) + this.wm * sd(sm, qm);
  }

  // ---- constraints -------------------------------------------------------------------------

  private fits(v: number, h: number, extraCfg = 0, extraCpu = 0): boolean {
    const vm = this.s.vms[v];
    if (!this.staticOk[v][h] || this.at[v] === h) return false;
    const host = this.s.hosts[h];
    const on = vm.powerState === 'on';
    if (on && this.cfg[h] + extraCfg + vm.memoryMb > host.memoryCapacityMb * this.s.policy.memoryOvercommitRatio) return false;
    const cap = this.s.policy.maxCpuUtilization;
    if (on && cap !== undefined && this.cpu[h] + extraCpu + vm.cpuDemandMhz > host.cpuCapacityMhz * cap) return false;
    for (const peer of this.antiPeers[v]) if (this.at[peer] === h) return false;
    return true;
  }

  private apply(v: number, h: number, priority: number, reason: Move['reason']): void {
    const vm = this.s.vms[v];
    const from = this.at[v];
    if (vm.powerState === 'on') {
      this.cpu[from] -= vm.cpuDemandMhz;
      this.act[from] -= vm.memoryActiveMb;
      this.cfg[from] -= vm.memoryMb;
      this.cpu[h] += vm.cpuDemandMhz;
      this.act[h] += vm.memoryActiveMb;
      this.cfg[h] += vm.memoryMb;
    }
    this.at[v] = h;
    this.moves.push({ vmId: vm.id, fromHostId: this.s.hosts[from].id, toHostId: this.s.hosts[h].id, priority, reason });
  }

  /** Imbalance if the VMs in `group` all moved to h (O(1) per host touched). */
  private imbalanceIf(group: readonly number[], h: number): number {
    const dc = new Map<number, number>();
    const dm = new Map<number, number>();
    for (const v of group) {
      const vm = this.s.vms[v];
      if (vm.powerState !== 'on') continue;
      const from = this.at[v];
      dc.set(from, (dc.get(from) ?? 0) - vm.cpuDemandMhz);
      dm.set(from, (dm.get(from) ?? 0) - vm.memoryActiveMb);
      dc.set(h, (dc.get(h) ?? 0) + vm.cpuDemandMhz);
      dm.set(h, (dm.get(h) ?? 0) + vm.memoryActiveMb);
    }
    return this.fromSums(...this.sums(dc, dm));
  }

  /** Whether the group can move to h one VM after another. */
  private groupFits(group: readonly number[], h: number): boolean {
    let cfg = 0;
    let cpu = 0;
    for (const v of group) {
      if (this.at[v] === h) continue;
      if (!this.fits(v, h, cfg, cpu)) return false;
      const vm = this.s.vms[v];
      if (vm.powerState === 'on') {
        cfg += vm.memoryMb;
        cpu += vm.cpuDemandMhz;
      }
    }
    return true;
  }

  private disabled(v: number): boolean {
    return this.s.vms[v].automationLevel === 'disabled';
  }

  // ---- mandatory -----------------------------------------------------------------------------

  private evacuate(): void {
    const entering = new Set(this.s.hosts.flatMap((h, i) => (h.state === 'entering-maintenance' ? [i] : [])));
    const pending: number[][] = [];
    const seen = new Set<number>();
    for (let v = 0; v < this.V; v++) {
      if (!entering.has(this.at[v]) || seen.has(v)) continue;
      const g = this.affinityGroup[v];
      const unit = g < 0 ? [v] : this.affinityMembers[g].filter((w) => entering.has(this.at[w]));
      for (const w of unit) seen.add(w);
      if (unit.some((w) => this.disabled(w))) continue;
      pending.push(unit);
    }
    while (pending.length > 0) {
      let best = -1;
      let bestHost = -1;
      let bestImbalance = Infinity;
      pending.forEach((unit, i) => {
        for (let h = 0; h < this.H; h++) {
          if (!this.groupFits(unit, h)) continue;
          const after = this.imbalanceIf(unit, h);
          if (after < bestImbalance) {
            bestImbalance = after;
            best = i;
            bestHost = h;
          }
        }
      });
      if (best < 0) break;
      for (const v of pending[best]) this.apply(v, bestHost, 1, 'evacuation');
      pending.splice(best, 1);
    }
  }

  private mustRules() {
    return this.s.rules.filter((r) => r.enabled !== false && r.mode === 'must');
  }

  private broken(r: Snapshot['rules'][number]): boolean {
    const hs = r.vmIds.map((id) => this.at[this.vmIdx.get(id) as number]);
    const hostSet = new Set((r.hostIds ?? []).map((id) => this.hostIdx.get(id)));
    switch (r.kind) {
      case 'vm-anti-affinity':
        return new Set(hs).size !== hs.length;
      case 'vm-affinity':
        return new Set(hs).size > 1;
      case 'vm-host-affinity':
        return hs.some((h) => !hostSet.has(h));
      case 'vm-host-anti-affinity':
        return hs.some((h) => hostSet.has(h));
    }
  }

  private repairRules(): void {
    for (const r of this.mustRules()) {
      for (let guard = 0; guard < r.vmIds.length * 2 && this.broken(r); guard++) {
        const ids = r.vmIds.map((id) => this.vmIdx.get(id) as number);
        // Candidate (group of VMs, host) moves that make the rule less broken.
        const options: { group: number[]; hosts: number[] }[] = [];
        if (r.kind === 'vm-affinity') {
          const g = this.affinityGroup[ids[0]];
          const members = this.affinityMembers[g];
          for (const h of new Set(members.map((v) => this.at[v]))) {
            const movers = members.filter((v) => this.at[v] !== h);
            if (movers.some((v) => this.disabled(v))) continue;
            options.push({ group: movers, hosts: [h] });
          }
        } else {
          for (const v of ids) {
            if (this.disabled(v)) continue;
            const h = this.at[v];
            const wrong =
              r.kind === 'vm-anti-affinity'
                ? ids.some((w) => w !== v && this.at[w] === h)
                : r.kind === 'vm-host-affinity'
                  ? !(r.hostIds ?? []).includes(this.s.hosts[h].id)
                  : (r.hostIds ?? []).includes(this.s.hosts[h].id);
            if (wrong && this.affinityGroup[v] < 0) options.push({ group: [v], hosts: [...Array(this.H).keys()].filter((x) => x !== h) });
          }
        }
        let bestGroup: number[] | null = null;
        let bestHost = -1;
        let bestImbalance = Infinity;
        for (const { group, hosts } of options) {
          for (const h of hosts) {
            if (!this.groupFits(group, h)) continue;
            const after = this.imbalanceIf(group, h);
            if (after < bestImbalance) {
              bestImbalance = after;
              bestGroup = group;
              bestHost = h;
            }
          }
        }
        if (bestGroup === null) break;
        for (const v of bestGroup) this.apply(v, bestHost, 1, 'rule');
      }
    }
  }

  // ---- balancing -----------------------------------------------------------------------------

  private balance(): { capped: boolean; balancingMoves: number } {
    const maxMoves = this.options.maxMoves ?? this.s.policy.maxMovesPerRun;
    const minGain = this.options.minGain ?? 1e-4;
    const deadline = this.options.timeBudgetMs === undefined ? Infinity : performance.now() + this.options.timeBudgetMs;
    const movable: number[] = [];
    for (let v = 0; v < this.V; v++) {
      const vm = this.s.vms[v];
      if (vm.powerState !== 'on' || (vm.automationLevel ?? 'default') !== 'default' || this.cooling[v] || this.affinityGroup[v] >= 0) continue;
      movable.push(v);
    }
    const capC = Float64Array.from(this.s.hosts, (h) => h.cpuCapacityMhz);
    const capM = Float64Array.from(this.s.hosts, (h) => h.memoryCapacityMb);
    let moves = 0;
    while (moves < maxMoves) {
      if (performance.now() > deadline) return { capped: true, balancingMoves: moves };
      const [sc, qc, sm, qm] = this.sums();
      const current = this.fromSums(sc, qc, sm, qm);
      let bestV = -1;
      let bestH = -1;
      let bestAfter = current - minGain;
      for (const v of movable) {
        const vm = this.s.vms[v];
        const a = this.at[v];
        if (!this.isConnected[a]) continue;
        const c = vm.cpuDemandMhz;
        const m = vm.memoryActiveMb;
        const oca = this.cpu[a] / capC[a];
        const oma = this.act[a] / capM[a];
        const nca = (this.cpu[a] - c) / capC[a];
        const nma = (this.act[a] - m) / capM[a];
        const sc1 = sc - oca + nca;
        const qc1 = qc - oca * oca + nca * nca;
        const sm1 = sm - oma + nma;
        const qm1 = qm - oma * oma + nma * nma;
        for (let h = 0; h < this.H; h++) {
          if (h === a || !this.isConnected[h]) continue;
          const och = this.cpu[h] / capC[h];
          const omh = this.act[h] / capM[h];
          const nch = (this.cpu[h] + c) / capC[h];
          const nmh = (this.act[h] + m) / capM[h];
          const after = this.fromSums(sc1 - och + nch, qc1 - och * och + nch * nch, sm1 - omh + nmh, qm1 - omh * omh + nmh * nmh);
          if (after < bestAfter && this.fits(v, h)) {
            bestAfter = after;
            bestV = v;
            bestH = h;
          }
        }
      }
      if (bestV < 0) break;
      this.apply(bestV, bestH, 3, 'balance');
      moves++;
    }
    return { capped: false, balancingMoves: moves };
  }

  private reportLeftovers(): void {
    for (let v = 0; v < this.V; v++) {
      if (this.s.hosts[this.at[v]].state === 'entering-maintenance') this.unresolved.push({ vmId: this.s.vms[v].id, reason: 'greedy found no host' });
    }
    for (const r of this.mustRules()) if (this.broken(r)) this.unresolved.push({ ruleId: r.id, reason: 'greedy could not repair it' });
    for (const r of this.s.rules) {
      if (r.enabled !== false && r.mode === 'should' && this.broken(r)) this.unresolved.push({ ruleId: r.id, reason: 'should rule left broken' });
    }
  }
}
