import { checkMoves } from '../planner/index.js';
import type { Move, Snapshot } from '../planner/snapshot.js';

/** A chosen move that cannot run now, and why (the filter plugin that refused it, as in the trace). */
export interface RefusedMove {
  index: number;
  vmId: string;
  plugin: string;
  reason: string;
}

export interface ApprovableMoves {
  /** Indexes into the plan's moves, in plan order: valid as a sequence on the cluster as it is now. */
  accepted: number[];
  refused: RefusedMove[];
  /** Chosen moves that an earlier approval made migrations already: they are not approved twice. */
  alreadyApproved: number[];
}

/**
 * Which of the chosen moves of a plan can be approved now. `current` is the cluster as its
 * unfinished migrations leave it (src/closedloop/in-flight.ts); `migrating` names the VMs that one of
 * them moves (VM id -> migration id). A move of a migrating VM waits for that migration; the others
 * are checked as a sequence with the planner's own filters (checkMoves), and a refused move is left
 * out until the rest is valid without it, since a move may have needed the room a refused one made.
 */
export function approvableMoves(
  moves: readonly Move[],
  chosen: readonly number[],
  approved: readonly number[],
  migrating: ReadonlyMap<string, string>,
  current: Snapshot,
): ApprovableMoves {
  const done = new Set(approved);
  const alreadyApproved: number[] = [];
  const refused: RefusedMove[] = [];
  let candidates: number[] = [];
  for (const index of [...chosen].sort((a, b) => a - b)) {
    const move = moves[index];
    const migration = migrating.get(move.vmId);
    if (done.has(index)) alreadyApproved.push(index);
    else if (migration !== undefined) {
      refused.push({ index, vmId: move.vmId, plugin: 'in-flight', reason: `VM ${move.vmId} is migrating (migration ${migration}); approve this move once it ends` });
    } else candidates.push(index);
  }
  for (;;) {
    const check = checkMoves(
      current,
      candidates.map((i) => moves[i]),
    );
    if (check.valid) break;
    // A broken must rule is reported at the last move touching its VMs (never before the first).
    const at = (problem: { index: number }) => Math.max(0, problem.index);
    const out = new Set(check.problems.map(at));
    for (const problem of check.problems) {
      const index = candidates[at(problem)];
      if (refused.some((r) => r.index === index)) continue;
      refused.push({ index, vmId: moves[index].vmId, plugin: problem.plugin, reason: problem.reason });
    }
    candidates = candidates.filter((_, i) => !out.has(i));
  }
  refused.sort((a, b) => a.index - b.index);
  return { accepted: candidates, refused, alreadyApproved };
}
