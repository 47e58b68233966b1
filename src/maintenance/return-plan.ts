import { checkMoves } from '../planner/index.js';
import type { Move, Snapshot } from '../planner/snapshot.js';

export interface ReturnPlan {
  /** The moves back, valid in order against the snapshot. */
  moves: Move[];
  notReturned: { vmId: string; reason: string }[];
}

/**
 * Which VMs an operation moved away go back to its host (pure): those still where it put them, each
 * move checked against the cluster as the moves accepted before it leave it.
 */
export function planReturn(snapshot: Snapshot, hostId: string, moved: readonly { vmId: string; targetHostId: string }[]): ReturnPlan {
  const where = new Map(snapshot.vms.map((vm) => [vm.id, vm.hostId]));
  const notReturned: ReturnPlan['notReturned'] = [];
  const moves: Move[] = [];
  for (const { vmId, targetHostId } of moved) {
    const now = where.get(vmId);
    if (now === undefined) {
      notReturned.push({ vmId, reason: 'the VM no longer exists' });
      continue;
    }
    if (now !== targetHostId) {
      notReturned.push({ vmId, reason: `the VM moved on to ${now} since` });
      continue;
    }
    const move: Move = { vmId, fromHostId: now, toHostId: hostId, priority: 2, reason: 'balance' };
    const check = checkMoves(snapshot, [...moves, move]);
    if (check.valid) moves.push(move);
    else notReturned.push({ vmId, reason: check.problems.at(-1)!.reason });
  }
  return { moves, notReturned };
}
