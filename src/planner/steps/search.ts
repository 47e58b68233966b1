import { acceptsAll, type PlanBuilder } from '../builder.js';
import { costSeconds } from '../cost.js';
import { AUTOMATION_DEFAULT } from '../model.js';
import { shouldRuleScore } from '../plugins/scores.js';
import { PROFILES } from '../profiles.js';

/**
 * The candidate-move search shared by overload relief, balancing and refinement. A move's worth is
 * its normalized gain (drop of the reference imbalance x connected hosts) minus the should-rule
 * penalty; the search keeps it O(1) per candidate with the placement's incremental sums and only
 * runs the filter plugins on a candidate that would beat the best so far.
 *
 * Candidate pruning: in a compatibility group of at most EXHAUSTIVE_GROUP hosts every host is a
 * source and a target (exact). In larger groups the sources are the hottest hosts (combined
 * z-score of CPU and memory utilization, and each alone) and the targets the coldest ones among
 * those with memory to spare: the best single move lies between those extremes.
 */
export const EXHAUSTIVE_GROUP = 40;
export const PRUNED_SOURCES = 10;
export const PRUNED_TARGETS = 10;

export interface Candidate {
  v: number;
  to: number;
  /** Normalized gain, should-rule penalty included. */
  gain: number;
  seconds: number;
  key: number;
}

export interface SearchSpace {
  /** Source hosts, per compatibility group of the VMs on them. */
  sources: number[];
  /** Target hosts per placement class (model.classHosts), or undefined for a class without any. */
  targetsByClass: (Int32Array | undefined)[];
}

/** VMs that optional moves may consider: powered on, automation default, not cooling, not in a must-affinity group. */
export function movableForBalance(b: PlanBuilder): Uint8Array {
  const m = b.model;
  const out = new Uint8Array(m.vmCount);
  for (let v = 0; v < m.vmCount; v++) {
    out[v] =
      m.vmOn[v] && m.vmAutomation[v] === AUTOMATION_DEFAULT && !m.vmCooling[v] && m.vmAffinityUnit[v] < 0 && (m.vmCpu[v] > 0 || m.vmActive[v] > 0)
        ? 1
        : 0;
  }
  return out;
}

/** Connected hosts grouped by compatibility group (fixed for a run). */
export function hostsByGroup(b: PlanBuilder): Map<number, number[]> {
  const m = b.model;
  const byGroup = new Map<number, number[]>();
  for (let h = 0; h < m.hostCount; h++) {
    if (!m.connected[h]) continue;
    const g = m.hostGroup[h];
    let list = byGroup.get(g);
    if (list === undefined) byGroup.set(g, (list = []));
    list.push(h);
  }
  return byGroup;
}

/** The k hosts with the highest key (ties: lower index first), without sorting all of them. */
export function topK(hosts: readonly number[], k: number, key: (h: number) => number): number[] {
  if (k <= 0) return [];
  if (hosts.length <= k) return hosts.slice();
  const chosen = new Array<number>(k);
  const keys = new Array<number>(k);
  let len = 0;
  for (const h of hosts) {
    const x = key(h);
    if (len === k) {
      if (x < keys[k - 1] || (x === keys[k - 1] && h > chosen[k - 1])) continue;
      len--;
    }
    let i = len;
    while (i > 0 && (keys[i - 1] < x || (keys[i - 1] === x && chosen[i - 1] > h))) {
      keys[i] = keys[i - 1];
      chosen[i] = chosen[i - 1];
      i--;
    }
    keys[i] = x;
    chosen[i] = h;
    len++;
  }
  return chosen;
}

/** Per-host heat: weighted z-score of CPU and memory utilization. */
export function hostHeat(b: PlanBuilder): Float64Array {
  const m = b.model;
  const p = b.placement;
  const mc = p.meanCpu();
  const mm = p.meanMem();
  const sc = p.sdCpu() || 1;
  const sm = p.sdMem() || 1;
  const heat = new Float64Array(m.hostCount);
  for (let h = 0; h < m.hostCount; h++) {
    if (m.connected[h]) heat[h] = (m.weightCpu * (p.cpuUtil[h] - mc)) / sc + (m.weightMem * (p.memUtil[h] - mm)) / sm;
  }
  return heat;
}

/** Sources and targets for the current placement (see the pruning note above). */
export function searchSpace(
  b: PlanBuilder,
  groups: Map<number, number[]>,
  minFreeMb: number,
  sourceCount = PRUNED_SOURCES,
  targetCount = PRUNED_TARGETS,
  exhaustiveUpTo = EXHAUSTIVE_GROUP,
): SearchSpace {
  const m = b.model;
  const p = b.placement;
  const heat = hostHeat(b);
  const sources: number[] = [];
  const top = (hosts: readonly number[], k: number, key: (h: number) => number) => topK(hosts, k, key);
  for (const hosts of groups.values()) {
    if (hosts.length <= exhaustiveUpTo) {
      sources.push(...hosts);
      continue;
    }
    const src = new Set([
      ...top(hosts, sourceCount, (h) => heat[h]),
      ...top(hosts, Math.ceil(sourceCount / 2), (h) => p.cpuUtil[h]),
      ...top(hosts, Math.ceil(sourceCount / 2), (h) => p.memUtil[h]),
    ]);
    sources.push(...src);
  }
  // Targets per placement class: every eligible host in small classes, else the coldest ones with room.
  // (Typed arrays: the hot loop reads them, one element kind for all.)
  const targetsByClass = m.classHosts.map((hosts) => {
    if (hosts.length === 0) return undefined;
    if (hosts.length <= exhaustiveUpTo) return Int32Array.from(hosts);
    const roomy = hosts.filter((h) => m.memLimit[h] - p.mem[h] >= minFreeMb);
    const pool = roomy.length > 0 ? roomy : hosts;
    return Int32Array.from(
      new Set([
        ...top(pool, targetCount, (h) => -heat[h]),
        ...top(pool, Math.ceil(targetCount / 2), (h) => -p.cpuUtil[h]),
        ...top(pool, Math.ceil(targetCount / 2), (h) => -p.memUtil[h]),
      ]),
    );
  });
  return { sources, targetsByClass };
}

export interface SearchOptions {
  movable: Uint8Array;
  /** Ranks candidates (higher is better); only candidates with a positive gain net of cost are ranked. */
  key: (gain: number, seconds: number, v: number) => number;
  /** Extra veto on a candidate (e.g. the target must stay under the overload level). */
  allow?: (v: number, to: number) => boolean;
  /** Minimum normalized gain (the threshold's lowest kept priority). */
  minGain: number;
  /** Skip VMs for which this is true (e.g. already moved once by balancing). */
  skipVm?: Uint8Array;
  /** Hard overload: a move is needed even when it does not pay for itself. */
  ignoreCost?: boolean;
  /** Only hosts for which this holds are sources (checked when a host is re-searched). */
  sourceOk?: (h: number) => boolean;
  /** Only VMs with less configured memory than this (MB) are candidates. */
  memBelowMb?: number;
}

export function bestMove(b: PlanBuilder, space: SearchSpace, o: SearchOptions): Candidate | null {
  let best: Candidate | null = null;
  for (const s of space.sources) {
    const c = bestFromSource(b, s, space.targetsByClass, o, best === null ? -Infinity : best.key);
    if (c !== null) best = c;
  }
  return best;
}

/**
 * The best candidate moving a VM off host `s` whose key beats `floor`, or null. The hot loop of the
 * planner: the source's part of the imbalance sums is computed once per VM, each target adds its
 * part (the same arithmetic as Placement.imbalanceIfMoved, inlined).
 */
function bestFromSource(b: PlanBuilder, s: number, targetsByClass: SearchSpace['targetsByClass'], o: SearchOptions, floor: number): Candidate | null {
  const m = b.model;
  const p = b.placement;
  const n = m.connectedCount;
  const wc = m.weightCpu;
  const wm = m.weightMem;
  const cpuInv = m.cpuCapacityInv;
  const memInv = m.memCapacityInv;
  const invN = 1 / n;
  const bandwidth = m.bandwidth;
  const vmCpu = m.vmCpu;
  const vmActive = m.vmActive;
  const vmMem = m.vmMem;
  const vmDirty = m.vmDirty;
  const pCpu = p.cpu;
  const pAct = p.active;
  const cu = p.cpuUtil;
  const mu = p.memUtil;
  const gps = b.level.gainPerSecond ?? 0;
  const current = b.imbalance;
  // Options read once: the options objects differ in shape, the loop below must not.
  const movable = o.movable;
  const skipVm = o.skipVm;
  const minGain = o.minGain;
  const ignoreCost = o.ignoreCost === true;
  const key = o.key;
  const plainKey = key === gainKey;
  const allow = o.allow;
  const memBelow = o.memBelowMb ?? Infinity;
  const sourceConnected = m.connected[s] === 1;
  const sourceLink = bandwidth[s];
  const ctx = b.context(PROFILES.optional);
  let best: Candidate | null = null;
  let bestKey = floor;
  let scored = 0;
  const vms = p.hostVms[s];
  for (let i = 0; i < vms.length; i++) {
    const v = vms[i];
    if (movable[v] === 0 || (skipVm !== undefined && skipVm[v] === 1) || vmMem[v] >= memBelow) continue;
    const targets = targetsByClass[m.vmClass[v]];
    if (targets === undefined) continue;
    const c = vmCpu[v];
    const a = vmActive[v];
    let sc = p.sumCpu;
    let qc = p.sqCpu;
    let sm = p.sumMem;
    let qm = p.sqMem;
    if (sourceConnected) {
      const nc = (pCpu[s] - c) * cpuInv[s];
      const nm = (pAct[s] - a) * memInv[s];
      sc += nc - cu[s];
      qc += nc * nc - cu[s] * cu[s];
      sm += nm - mu[s];
      qm += nm * nm - mu[s] * mu[s];
    }
    const hasRules = m.vmRules[v].length > 0;
    const simpleCost = vmDirty[v] === 0;
    const memMb = vmMem[v];
    for (let j = 0; j < targets.length; j++) {
      const t = targets[j];
      if (t === s) continue;
      scored++;
      const nc = (pCpu[t] + c) * cpuInv[t];
      const nm = (pAct[t] + a) * memInv[t];
      const ct = cu[t];
      const mt = mu[t];
      // The reference imbalance after the move (Placement.imbalanceIfMoved, inlined).
      const meanC = (sc + nc - ct) * invN;
      const varC = (qc + nc * nc - ct * ct) * invN - meanC * meanC;
      const meanM = (sm + nm - mt) * invN;
      const varM = (qm + nm * nm - mt * mt) * invN - meanM * meanM;
      const after = wc * (varC > 0 ? Math.sqrt(varC) : 0) + wm * (varM > 0 ? Math.sqrt(varM) : 0);
      let gain = (current - after) * n;
      if (gain <= minGain) continue;
      if (hasRules) gain += shouldRuleScore(m, p.host, v, t);
      const link = sourceLink < bandwidth[t] ? sourceLink : bandwidth[t];
      const sec = simpleCost ? (memMb * 8) / link : costSeconds(m, v, s, t);
      if (!ignoreCost && gain - gps * sec <= 0) continue;
      const k = plainKey ? gain : key(gain, sec, v);
      if (k <= bestKey) continue;
      if (allow !== undefined && !allow(v, t)) continue;
      if (!acceptsAll(PROFILES.optional, ctx, v, t)) continue;
      bestKey = k;
      best = { v, to: t, gain, seconds: sec, key: k };
    }
  }
  b.candidatesScored += scored;
  return best;
}

/** The plain ranking: normalized gain. */
export function gainKey(gain: number): number {
  return gain;
}

/**
 * The best-move search over *every* source host, made cheap by caching each host's best candidate
 * (lazy greedy). Hosts touched by a move since the last query (the placement's change log) are
 * re-searched. Then, while the top cached candidate is stale, it is first re-scored (O(1)); if it
 * stays on top after that, its host is re-searched in full and the result is taken once it still
 * beats the next key. Everything is re-searched every FULL_REFRESH_QUERIES queries, against drift.
 * Targets are the coldest hosts of each group (see searchSpace), recomputed at every query.
 */
const FULL_REFRESH_QUERIES = 100;
const POOL_REFRESH = 16;
/** When the best cached move is below the minimum, hosts whose cached move is within this share of it are re-searched. */
const VERIFY_SHARE = 0.5;

export class CachedSearch {
  private readonly keys: Float64Array;
  /** The imbalance when each key was computed: a move's gain grows as the imbalance falls (a fixed
   * drop of variance is worth more standard deviation when it is small), so keys are compared
   * scaled by keyImbalance / current imbalance. */
  private readonly keyImbalance: Float64Array;
  private readonly candidates: (Candidate | null)[];
  /** Per host: the change-log position its candidate was searched (fresh) or re-scored at. */
  private readonly searchedAt: Float64Array;
  private readonly rescoredAt: Float64Array;
  private readonly sources: number[];
  private cursor = 0;
  private generation = -1;
  private queries = 0;
  private verifiedAt = -1;

  constructor(
    private readonly b: PlanBuilder,
    private readonly groups: Map<number, number[]>,
    private readonly o: SearchOptions,
    private readonly targetCount: number,
  ) {
    // The cache keeps every host's best positive move, even below the minimum gain: as the
    // imbalance falls those grow, and a host without any cached move is only seen again on a
    // refresh. The minimum gain is applied to the answer.
    this.cacheOptions = { ...o, minGain: Math.min(o.minGain, 0) };
    const H = b.model.hostCount;
    this.keys = new Float64Array(H);
    this.keyImbalance = new Float64Array(H);
    this.candidates = new Array<Candidate | null>(H).fill(null);
    this.searchedAt = new Float64Array(H).fill(-1);
    this.rescoredAt = new Float64Array(H).fill(-1);
    this.sources = [...groups.values()].flat().sort((x, y) => x - y);
    // Targets must have room for a median movable VM: the coldest hosts are often full.
    const sizes: number[] = [];
    for (let v = 0; v < b.model.vmCount; v++) if (o.movable[v]) sizes.push(b.model.vmMem[v]);
    sizes.sort((x, y) => x - y);
    this.roomMb = sizes.length === 0 ? 0 : sizes[sizes.length >> 1];
  }

  private readonly roomMb: number;
  private readonly cacheOptions: SearchOptions;
  private pool: SearchSpace['targetsByClass'] = [];
  private poolAt = -1;
  private poolGeneration = -1;

  /**
   * The coldest hosts per class, recomputed when a host in it changed, or every POOL_REFRESH
   * changes (hosts' heat order moves slowly otherwise).
   */
  private targets(now: number): SearchSpace['targetsByClass'] {
    const p = this.b.placement;
    let stale = this.poolGeneration !== p.generation || now - this.poolAt >= POOL_REFRESH;
    if (!stale && this.poolAt < now) {
      const inPool = new Set<number>();
      for (const list of this.pool) if (list !== undefined) for (const h of list) inPool.add(h);
      for (let i = this.poolAt; i < now && !stale; i++) stale = inPool.has(p.changes[i]);
    }
    if (stale) {
      // Every host is a source here; the targets are pruned even in mid-size classes (time).
      this.pool = searchSpace(this.b, this.groups, this.roomMb, 0, this.targetCount, this.targetCount * 2).targetsByClass;
      this.poolAt = now;
      this.poolGeneration = p.generation;
    }
    return this.pool;
  }

  best(): Candidate | null {
    const b = this.b;
    const p = b.placement;
    const now = p.changes.length;
    const pool = this.targets(now);
    const refresh = (s: number) => {
      const c = this.o.sourceOk !== undefined && !this.o.sourceOk(s) ? null : bestFromSource(b, s, pool, this.cacheOptions, -Infinity);
      this.candidates[s] = c;
      this.keys[s] = c === null ? -Infinity : c.key;
      this.keyImbalance[s] = b.imbalance;
      this.searchedAt[s] = now;
      this.rescoredAt[s] = now;
    };
    if (this.generation !== p.generation || ++this.queries >= FULL_REFRESH_QUERIES) {
      // Searched now: the hosts above the mean in CPU or memory (the sources of good moves); the
      // others only if nothing better turns up (see the check below) or at the next full round.
      this.generation = p.generation;
      this.queries = 0;
      const mc = p.meanCpu();
      const mm = p.meanMem();
      for (const s of this.sources) {
        if (p.cpuUtil[s] >= mc || p.memUtil[s] >= mm) refresh(s);
        else {
          this.candidates[s] = null;
          this.keys[s] = -Infinity;
          this.searchedAt[s] = -1;
          this.rescoredAt[s] = -1;
        }
      }
    } else if (this.cursor < now) {
      // A host that lost a VM is re-searched (its candidate may be gone); one that gained a VM is
      // only re-scored (as a source it rarely matters: it was among the coldest).
      const lost = new Set<number>();
      const gained = new Set<number>();
      for (let i = this.cursor; i < now; i += 2) {
        lost.add(p.changes[i]);
        gained.add(p.changes[i + 1]);
      }
      for (const s of lost) refresh(s);
      for (const s of gained) {
        if (lost.has(s) || this.candidates[s] === null) continue;
        const r = this.rescore(this.candidates[s] as Candidate);
        this.candidates[s] = r;
        this.keys[s] = r === null ? -Infinity : r.key;
        this.keyImbalance[s] = b.imbalance;
        this.rescoredAt[s] = now;
      }
    }
    this.cursor = now;
    for (;;) {
      let top = -1;
      let topKey = -Infinity;
      let second = -Infinity;
      const current = b.imbalance > 0 ? b.imbalance : 1;
      for (const s of this.sources) {
        const raw = this.keys[s];
        const k = raw > 0 ? (raw * this.keyImbalance[s]) / current : raw;
        if (k > topKey) {
          second = topKey;
          topKey = k;
          top = s;
        } else if (k > second) second = k;
      }
      if (top < 0) {
        // Nothing cached qualifies: before concluding, re-search every host not searched since the last change.
        let stale = false;
        for (const s of this.sources) {
          if (this.searchedAt[s] !== now) {
            refresh(s);
            stale = true;
          }
        }
        if (!stale) return null;
        continue;
      }
      if (this.searchedAt[top] === now) {
        if (topKey < second) continue;
        const c = this.candidates[top] as Candidate;
        if (c.gain > this.o.minGain) return c;
        // The best cached move is not good enough: before saying so, re-search the hosts whose
        // cached move (scaled to the current imbalance) comes within VERIFY_SHARE of the minimum.
        if (this.verifiedAt === now) return null;
        this.verifiedAt = now;
        const current = b.imbalance > 0 ? b.imbalance : 1;
        for (const s of this.sources) {
          if (this.searchedAt[s] === now) continue;
          const raw = this.keys[s];
          if (this.searchedAt[s] < 0 || (raw > 0 && (raw * this.keyImbalance[s]) / current >= this.o.minGain * VERIFY_SHARE)) refresh(s);
        }
        continue;
      }
      if (this.rescoredAt[top] !== now) {
        const r = this.rescore(this.candidates[top] as Candidate);
        this.candidates[top] = r;
        this.keys[top] = r === null ? -Infinity : r.key;
        this.keyImbalance[top] = b.imbalance;
        this.rescoredAt[top] = now;
        continue;
      }
      refresh(top);
    }
  }

  /** The cached candidate scored at the current placement, or null if it no longer qualifies. */
  private rescore(c: Candidate): Candidate | null {
    const b = this.b;
    const m = b.model;
    const p = b.placement;
    if (p.host[c.v] === c.to || !this.o.movable[c.v] || (this.o.skipVm !== undefined && this.o.skipVm[c.v])) return null;
    let gain = (b.imbalance - p.imbalanceIfMoved(c.v, c.to)) * m.connectedCount;
    if (gain <= this.cacheOptions.minGain) return null;
    if (m.vmRules[c.v].length > 0) gain += shouldRuleScore(m, p.host, c.v, c.to);
    const sec = costSeconds(m, c.v, p.host[c.v], c.to);
    if (!this.o.ignoreCost && gain - (b.level.gainPerSecond ?? 0) * sec <= 0) return null;
    if (this.o.allow !== undefined && !this.o.allow(c.v, c.to)) return null;
    if (!acceptsAll(PROFILES.optional, b.context(PROFILES.optional), c.v, c.to)) return null;
    return { v: c.v, to: c.to, gain, seconds: sec, key: this.o.key(gain, sec, c.v) };
  }
}
