/**
 * A plan is valid step by step; run in parallel, a move must still wait for the earlier moves that
 * it needs: the earlier moves of the same VM, and the earlier moves out of its target host (they
 * make the room it was planned into). Returns, for each move, the indexes of those earlier moves.
 * With these edges, whatever subset runs at once, every host carries no more than it does at some
 * prefix of the plan.
 */
export interface OrderedMove {
  vmId: string;
  fromHostId: string;
  toHostId: string;
}

export function moveDependencies(moves: readonly OrderedMove[]): number[][] {
  const earlierByVm = new Map<string, number[]>();
  const earlierOutOfHost = new Map<string, number[]>();
  return moves.map((move, index) => {
    const needs = new Set([...(earlierByVm.get(move.vmId) ?? []), ...(earlierOutOfHost.get(move.toHostId) ?? [])]);
    if (!earlierByVm.has(move.vmId)) earlierByVm.set(move.vmId, []);
    earlierByVm.get(move.vmId)!.push(index);
    if (move.fromHostId !== move.toHostId) {
      if (!earlierOutOfHost.has(move.fromHostId)) earlierOutOfHost.set(move.fromHostId, []);
      earlierOutOfHost.get(move.fromHostId)!.push(index);
    }
    return [...needs].sort((a, b) => a - b);
  });
}
