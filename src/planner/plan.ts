import { PlanBuilder, type PlanOptions } from './builder.js';
import { referenceImbalance } from './imbalance.js';
import { compileModel, type Model } from './model.js';
import { brokenRules, describeBreak } from './rules.js';
import type { PlannedMoveReason, Plan, Snapshot } from './snapshot.js';
import { balance } from './steps/balance.js';
import { evacuate } from './steps/evacuate.js';
import { explainStayed } from './steps/explain.js';
import { relieveOverload } from './steps/overload.js';
import { repairMustRules } from './steps/repair.js';
import type { PlanTrace } from './trace.js';

export interface PlanResult {
  /** Exactly FORMAT.md's plan document. */
  plan: Plan;
  /** The bounded decision trace. */
  trace: PlanTrace;
}

/**
 * Plans one cluster: (1) evacuate entering-maintenance hosts, (2) repair broken must rules,
 * (3) relieve overloaded hosts, (4) balance — in that order, in one list of moves of which every
 * prefix is a valid state. Pure and deterministic: the snapshot's takenAt is "now".
 */
export function plan(snapshot: Snapshot, options: PlanOptions = {}): PlanResult {
  const model = compileModel(snapshot, { held: options.held });
  const b = new PlanBuilder(model, options);
  const mustBefore = brokenRules(model, model.initialHost, true).length;
  const shouldBefore = brokenRules(model, model.initialHost, false).length;

  const evacuated = evacuate(b);
  if (options.mode === 'evacuate-only') {
    repairMustRules(b, (rule) => rule.vms.some((v) => evacuated.has(v)));
    b.balanceStop = 'evacuate-only mode';
  } else {
    repairMustRules(b);
    relieveOverload(b);
    balance(b);
    explainStayed(b);
  }

  const host = b.placement.host;
  // Every must rule still broken is reported (evacuate-only plans leave the others as they are).
  const reported = new Set(b.unresolved.map((u) => u.ruleId));
  for (const rule of brokenRules(model, host, true)) {
    if (reported.has(rule.id)) continue;
    const conflict = model.ruleConflicts.get(rule.id);
    const why = conflict !== undefined ? `: ${conflict}` : options.mode === 'evacuate-only' ? ': evacuate-only plans repair only the rules the evacuation involves' : '';
    b.unresolved.push({ ruleId: rule.id, reason: `must rule left broken (${describeBreak(model, rule, host)})${why}` });
  }
  const shouldAfter = brokenRules(model, host, false);
  for (const rule of shouldAfter) {
    b.unresolved.push({ ruleId: rule.id, reason: `should rule left broken (${describeBreak(model, rule, host)})` });
  }
  const moves = b.planned.map((x) => x.move);
  const result: Plan = {
    version: 1,
    clusterId: snapshot.cluster.id,
    moves,
    imbalanceBefore: referenceImbalance(snapshot),
    imbalanceAfter: finalImbalance(model, host),
    unresolved: b.unresolved,
  };
  return { plan: result, trace: buildTrace(b, mustBefore, shouldBefore, shouldAfter.length) };
}

function finalImbalance(model: Model, host: Int32Array): number {
  const vms = model.snapshot.vms.map((vm, v) => (host[v] === model.initialHost[v] ? vm : { ...vm, hostId: model.hosts[host[v]].id }));
  return referenceImbalance({ ...model.snapshot, vms });
}

function buildTrace(b: PlanBuilder, mustBefore: number, shouldBefore: number, shouldAfter: number): PlanTrace {
  const m = b.model;
  const byReason: Record<PlannedMoveReason, number> = { evacuation: 0, rule: 0, overload: 0, balance: 0 };
  const byPriority: Record<string, number> = {};
  let memoryMovedMb = 0;
  let transferredMb = 0;
  let estimatedSeconds = 0;
  for (const { move, trace } of b.planned) {
    byReason[move.reason as PlannedMoveReason]++; // the planner never makes a manual move
    byPriority[move.priority] = (byPriority[move.priority] ?? 0) + 1;
    memoryMovedMb += m.vmMem[m.vmIndex.get(move.vmId) as number];
    transferredMb += trace.cost.transferredMb;
    estimatedSeconds += trace.cost.seconds;
  }
  return {
    threshold: b.level,
    targetImbalance: b.level.targetImbalance,
    summary: {
      moves: b.planned.length,
      byReason,
      byPriority,
      memoryMovedMb,
      transferredMb,
      estimatedSeconds,
      optionalMoves: b.optionalMoves,
      maxMoves: b.maxOptionalMoves,
      unresolved: b.unresolved.length,
      mustRulesBrokenBefore: mustBefore,
      mustRulesBrokenAfter: brokenRules(m, b.placement.host, true).length,
      shouldRulesBrokenBefore: shouldBefore,
      shouldRulesBrokenAfter: shouldAfter,
      balanceStop: b.balanceStop,
      candidatesScored: b.candidatesScored,
    },
    // Hosts from the move itself: refinement and replay change a move's hosts after its trace is made.
    moves: b.planned.map(({ move, trace }) => ({ ...trace, fromHostId: move.fromHostId, toHostId: move.toHostId })),
    stayed: b.stayed.list(),
    stayedOmitted: b.stayed.omitted,
  };
}
