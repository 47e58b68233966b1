import type { HostState, Move, Snapshot } from '../planner/snapshot.js';

/**
 * Why a stored plan no longer fits the cluster as it is now, or null: a host changed state or
 * disappeared, or a VM is no longer where the (chosen) moves take it from.
 */
export function stalenessReason(
  planned: { hostStates: Record<string, HostState>; moves: readonly Move[] },
  current: Snapshot,
  chosen: readonly number[],
): string | null {
  const hostState = new Map(current.hosts.map((h) => [h.id, h.state]));
  for (const [hostId, was] of Object.entries(planned.hostStates)) {
    const now = hostState.get(hostId);
    if (now === undefined) return `host ${hostId} no longer exists`;
    if (now !== was) return `host ${hostId} is ${now} now; it was ${was} when the plan was made`;
  }
  const where = new Map(current.vms.map((vm) => [vm.id, vm.hostId]));
  const seen = new Set<string>();
  for (const index of chosen) {
    const move = planned.moves[index];
    if (seen.has(move.vmId)) continue;
    seen.add(move.vmId);
    const now = where.get(move.vmId);
    if (now === undefined) return `VM ${move.vmId} no longer exists`;
    if (now !== move.fromHostId) return `VM ${move.vmId} is on ${now} now; the plan moves it from ${move.fromHostId}`;
  }
  return null;
}
