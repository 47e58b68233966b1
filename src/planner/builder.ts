import { estimateCost } from './cost.js';
import type { Model } from './model.js';
import { Placement } from './placement.js';
import { firstRejection, type Rejection } from './plugins/filters.js';
import { scoreMove, totalScore, type ScoreBreakdown, type ScoreContext } from './plugins/scores.js';
import type { Profile } from './profiles.js';
import type { Move, PlannedMoveReason, Unresolved } from './snapshot.js';
import { thresholdLevel, type ThresholdLevel } from './thresholds.js';
import { StayedLog, type MoveTrace, type PlanStep } from './trace.js';

export interface PlanOptions {
  /** 1..5; overrides policy.migrationThreshold. */
  threshold?: number;
  /** Overrides policy.maxMovesPerRun (the cap on soft-overload and balancing moves). */
  maxMoves?: number;
  /** evacuate-only: evacuation and the must-rule repairs it involves, no overload relief or balancing. */
  mode?: 'full' | 'evacuate-only';
  /** Default true (FORMAT: every VM on an entering-maintenance host moves); false leaves powered-off VMs. */
  evacuatePoweredOff?: boolean;
  /** VMs that sit out optional moves (vmId -> why), as a cooling VM does: the closed loop's growing cooldown. */
  held?: ReadonlyMap<string, string>;
  /** Bounds of the trace's list of VMs that stayed (defaults 50 VMs x 3 reasons). */
  traceVms?: number;
  traceReasons?: number;
}

export interface PlannedMove {
  move: Move;
  trace: MoveTrace;
  /** VM and source host indexes (model numbering). */
  v: number;
  from: number;
  /** Set for the consecutive moves of a must-affinity group moving together. */
  unit?: ReadonlySet<number>;
}

export interface Checkpoint {
  placement: Placement;
  planned: PlannedMove[];
  imbalance: number;
  optionalMoves: number;
  balanceStop: string;
  unresolved: number;
}

/** The state of one planning run: the placement as the plan so far leaves it, and what was decided. */
export class PlanBuilder {
  readonly placement: Placement;
  readonly level: ThresholdLevel;
  /** maxMovesPerRun (balancing raises it for a while to overshoot, then drops back to it). */
  maxOptionalMoves: number;
  readonly planned: PlannedMove[] = [];
  readonly unresolved: Unresolved[] = [];
  readonly stayed: StayedLog;
  readonly evacuatePoweredOff: boolean;
  /** Current reference imbalance (kept incrementally). */
  imbalance: number;
  optionalMoves = 0;
  candidatesScored = 0;
  balanceStop = 'not run';
  private readonly contexts = new Map<string, ScoreContext>();

  constructor(
    readonly model: Model,
    options: PlanOptions,
  ) {
    const policy = model.snapshot.policy;
    this.placement = new Placement(model);
    this.level = thresholdLevel(options.threshold ?? policy.migrationThreshold);
    this.maxOptionalMoves = Math.max(0, Math.floor(options.maxMoves ?? policy.maxMovesPerRun));
    this.stayed = new StayedLog(options.traceVms ?? 50, options.traceReasons ?? 3);
    this.evacuatePoweredOff = options.evacuatePoweredOff ?? true;
    this.imbalance = this.placement.imbalance();
  }

  get optionalBudget(): number {
    return this.maxOptionalMoves - this.optionalMoves;
  }

  /** A copy of the plan so far and its placement, to try alternatives and come back. */
  checkpoint(): Checkpoint {
    return {
      placement: this.placement.clone(),
      planned: this.planned.map((x) => ({ ...x, move: { ...x.move }, trace: { ...x.trace } })),
      imbalance: this.imbalance,
      optionalMoves: this.optionalMoves,
      balanceStop: this.balanceStop,
      unresolved: this.unresolved.length,
    };
  }

  restore(c: Checkpoint): void {
    this.placement.copyFrom(c.placement);
    this.planned.length = 0;
    this.planned.push(...c.planned.map((x) => ({ ...x, move: { ...x.move }, trace: { ...x.trace } })));
    this.imbalance = c.imbalance;
    this.optionalMoves = c.optionalMoves;
    this.balanceStop = c.balanceStop;
    this.unresolved.length = c.unresolved;
  }

  /** The filter and score context of a profile (with an optional unit of VMs moving together). */
  context(profile: Profile, unit: ReadonlySet<number> | null = null): ScoreContext {
    if (unit !== null) return this.makeContext(profile, unit);
    let ctx = this.contexts.get(profile.name);
    if (ctx === undefined) {
      ctx = this.makeContext(profile, null);
      this.contexts.set(profile.name, ctx);
    }
    return ctx;
  }

  private makeContext(profile: Profile, unit: ReadonlySet<number> | null): ScoreContext {
    return new BuilderContext(this, profile.optional, unit);
  }

  /** Appends a move to the plan and applies it to the placement. */
  apply(
    v: number,
    to: number,
    priority: number,
    reason: PlannedMoveReason,
    step: PlanStep,
    score: ScoreBreakdown,
    note?: string,
    unit?: ReadonlySet<number>,
  ): void {
    const m = this.model;
    const from = this.placement.host[v];
    const cost = estimateCost(m, v, from, to);
    this.placement.move(v, to);
    this.imbalance = this.placement.imbalance();
    const move: Move = { vmId: m.vms[v].id, fromHostId: m.hosts[from].id, toHostId: m.hosts[to].id, priority, reason };
    const trace: MoveTrace = { index: this.planned.length, vmId: move.vmId, fromHostId: move.fromHostId, toHostId: move.toHostId, step, score, cost, imbalanceAfter: this.imbalance };
    if (note !== undefined) trace.note = note;
    const planned: PlannedMove = { move, trace, v, from };
    if (unit !== undefined) planned.unit = unit;
    this.planned.push(planned);
    this.stayed.forget(v);
  }

  score(profile: Profile, v: number, to: number, unit: ReadonlySet<number> | null = null): ScoreBreakdown {
    return scoreMove(profile.scorers, this.context(profile, unit), v, to);
  }

  /**
   * The accepted host with the best total score for VM v (ties: the most free memory, then the
   * lowest index), or null. `allowed` narrows the hosts considered.
   */
  bestTarget(profile: Profile, v: number, unit: ReadonlySet<number> | null = null, allowed?: (h: number) => boolean): number {
    const ctx = this.context(profile, unit);
    const m = this.model;
    const here = this.placement.host[v];
    let best = -1;
    let bestScore = -Infinity;
    let bestFree = -Infinity;
    // Only hosts of the VM's placement class can pass the group, network and datastore filters.
    const hosts = m.classHosts[m.vmClass[v]];
    for (let i = 0; i < hosts.length; i++) {
      const t = hosts[i];
      if (t === here || (allowed !== undefined && !allowed(t))) continue;
      const s = totalScore(profile.scorers, ctx, v, t);
      this.candidatesScored++;
      const free = (m.memLimit[t] - this.placement.mem[t]) / m.memCapacity[t];
      // Scores first (cheap); the filters only for a host that would be the new best.
      if (!(s > bestScore + 1e-12 || (Math.abs(s - bestScore) <= 1e-12 && free > bestFree))) continue;
      if (!acceptsAll(profile, ctx, v, t)) continue;
      best = t;
      bestScore = s;
      bestFree = free;
    }
    return best;
  }

  /** Why no host accepts VM v: one line for `unresolved`, and the per-host rejections. */
  explainNoTarget(profile: Profile, v: number, unit: ReadonlySet<number> | null = null): { summary: string; rejections: Rejection[] } {
    const m = this.model;
    const ctx = this.context(profile, unit);
    const rejections: Rejection[] = [];
    const byPlugin = new Map<string, number>();
    for (let t = 0; t < m.hostCount; t++) {
      if (t === this.placement.host[v]) continue;
      const r = firstRejection(profile.filters, ctx, v, t);
      if (r === null) continue;
      rejections.push(r);
      byPlugin.set(r.plugin, (byPlugin.get(r.plugin) ?? 0) + 1);
    }
    return { summary: summarizeRejections(m, this.placement, v, unit, byPlugin, rejections), rejections };
  }

  /** Records that VM v stays, with the first rejection of a few candidate hosts. */
  noteStayed(v: number, reason: () => Rejection): void {
    const m = this.model;
    this.stayed.add(v, m.vms[v].id, m.hosts[this.placement.host[v]].id, reason);
  }
}

/** A filter and score context whose `imbalance` follows the builder's current value. */
class BuilderContext implements ScoreContext {
  readonly model: Model;
  readonly placement: Placement;
  readonly gainPerSecond: number;

  constructor(
    private readonly builder: PlanBuilder,
    readonly optional: boolean,
    readonly unit: ReadonlySet<number> | null,
  ) {
    this.model = builder.model;
    this.placement = builder.placement;
    this.gainPerSecond = builder.level.gainPerSecond ?? 0;
  }

  get imbalance(): number {
    return this.builder.imbalance;
  }
}

export function acceptsAll(profile: Profile, ctx: ScoreContext, v: number, t: number): boolean {
  const filters = profile.filters;
  for (let i = 0; i < filters.length; i++) if (!filters[i].accepts(ctx, v, t)) return false;
  return true;
}

function summarizeRejections(
  m: Model,
  p: Placement,
  v: number,
  unit: ReadonlySet<number> | null,
  byPlugin: ReadonlyMap<string, number>,
  rejections: readonly Rejection[],
): string {
  if (rejections.length === 0) return 'no other host';
  const vmLevel = rejections.find((r) => r.plugin === 'automation-level' || r.plugin === 'cooldown');
  if (vmLevel !== undefined) return vmLevel.reason;
  const group = m.vmGroup[v];
  const groupText = group >= 0 ? ` in compatibility group ${m.groupNames[group]}` : '';
  const connectedInGroup = m.hosts.some((_, t) => m.connected[t] && m.hostGroup[t] === group && t !== p.host[v]);
  if (!connectedInGroup) return `no connected host${groupText}`;
  if (onlyCapacityLeft(byPlugin, 'memory-capacity')) {
    const need = unit === null ? m.vmMem[v] : [...unit].reduce((sum, w) => sum + (p.host[w] === p.host[v] ? m.vmMem[w] : 0), 0);
    return `no host has ${Math.round(need)} MB free${groupText}`;
  }
  if (onlyCapacityLeft(byPlugin, 'cpu-cap')) return `no host has ${Math.round(m.vmCpu[v])} MHz of CPU to spare under the cap${groupText}`;
  const onlyPlacement = [...byPlugin.keys()].every((k) => ['host-state', 'compatibility-group', 'networks', 'datastores', 'must-rules'].includes(k));
  if (onlyPlacement && byPlugin.has('must-rules') && !byPlugin.has('networks') && !byPlugin.has('datastores')) {
    return `its must rules allow no connected host${groupText}`;
  }
  const parts = [...byPlugin.entries()].sort((a, b) => b[1] - a[1]).map(([plugin, n]) => `${n} x ${plugin}`);
  return `no host accepts it (${parts.join(', ')})`;
}

/** True when every host that passed the placement filters failed on `plugin` (capacity is what is missing). */
function onlyCapacityLeft(byPlugin: ReadonlyMap<string, number>, plugin: string): boolean {
  if (!byPlugin.has(plugin)) return false;
  const placementPlugins = ['host-state', 'compatibility-group', 'networks', 'datastores', 'must-rules', 'must-affinity'];
  for (const key of byPlugin.keys()) if (key !== plugin && !placementPlugins.includes(key)) return false;
  return true;
}
