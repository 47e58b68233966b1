import type { CostEstimate } from './cost.js';
import type { Rejection } from './plugins/filters.js';
import type { ScoreBreakdown } from './plugins/scores.js';
import type { PlannedMoveReason } from './snapshot.js';
import type { ThresholdLevel } from './thresholds.js';

/** Which part of the planner produced a move. */
export type PlanStep = 'evacuation' | 'rule-repair' | 'room' | 'overload' | 'balance' | 'refine';

export interface MoveTrace {
  /** Position in plan.moves. */
  index: number;
  vmId: string;
  /** The move's source and target hosts (the plan's move at this index). */
  fromHostId: string;
  toHostId: string;
  step: PlanStep;
  /** Score plugins (normalized gain units) at the time the move was chosen; total = weighted sum. */
  score: ScoreBreakdown;
  cost: CostEstimate;
  /** Reference imbalance right after this move. */
  imbalanceAfter: number;
  /** Why a room move was made, or which unit a move belongs to. */
  note?: string;
}

export interface StayedTrace {
  vmId: string;
  hostId: string;
  /** The first reasons (filter or score plugin) that kept the VM where it is. */
  reasons: Rejection[];
}

export interface PlanSummary {
  moves: number;
  byReason: Record<PlannedMoveReason, number>;
  byPriority: Record<string, number>;
  /** Configured memory of the powered-on VMs moved (a powered-off VM moves no memory). */
  memoryMovedMb: number;
  /** Pre-copy estimate of everything sent, re-sent pages included. */
  transferredMb: number;
  estimatedSeconds: number;
  /** Moves counted against maxMovesPerRun (soft overload relief and balancing) and that cap. */
  optionalMoves: number;
  maxMoves: number;
  unresolved: number;
  mustRulesBrokenBefore: number;
  mustRulesBrokenAfter: number;
  shouldRulesBrokenBefore: number;
  shouldRulesBrokenAfter: number;
  /** Why balancing stopped. */
  balanceStop: string;
  /** Candidate moves scored (a measure of the search effort). */
  candidatesScored: number;
}

export interface PlanTrace {
  threshold: ThresholdLevel;
  targetImbalance: number | null;
  summary: PlanSummary;
  moves: MoveTrace[];
  stayed: StayedTrace[];
  /** VMs with reasons to stay that did not fit in the bounded trace. */
  stayedOmitted: number;
}

/** Bounded record of why VMs stayed: at most `maxVms` VMs with at most `maxReasons` reasons each. */
export class StayedLog {
  private readonly entries = new Map<number, StayedTrace>();
  private readonly omittedVms = new Set<number>();

  constructor(
    private readonly maxVms: number,
    private readonly maxReasons: number,
  ) {}

  add(v: number, vmId: string, hostId: string, reason: () => Rejection): void {
    let entry = this.entries.get(v);
    if (entry === undefined) {
      if (this.entries.size >= this.maxVms) {
        this.omittedVms.add(v);
        return;
      }
      entry = { vmId, hostId, reasons: [] };
      this.entries.set(v, entry);
    }
    if (entry.reasons.length >= this.maxReasons) return;
    const r = reason();
    if (!entry.reasons.some((x) => x.plugin === r.plugin && x.reason === r.reason)) entry.reasons.push(r);
  }

  /** No room for another VM (reasons of listed VMs may still be added). */
  get full(): boolean {
    return this.entries.size >= this.maxVms;
  }

  has(v: number): boolean {
    return this.entries.has(v);
  }

  forget(v: number): void {
    this.entries.delete(v);
    this.omittedVms.delete(v);
  }

  get omitted(): number {
    return this.omittedVms.size;
  }

  list(): StayedTrace[] {
    return [...this.entries.values()];
  }
}
