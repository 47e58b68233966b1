import type { Move, Snapshot } from '../planner/snapshot.js';

/**
 * The cluster as the migrations in flight leave it: each moving VM stands on its target (its
 * target's capacity counts as taken) and is disabled (a new plan does not move it again), so an
 * evaluation plans around earlier moves instead of waiting for them.
 */
export function placeInFlight(snapshot: Snapshot, inFlight: readonly Move[]): Snapshot {
  if (inFlight.length === 0) return snapshot;
  const target = new Map(inFlight.map((m) => [m.vmId, m.toHostId]));
  return {
    ...snapshot,
    vms: snapshot.vms.map((vm) => {
      const to = target.get(vm.id);
      return to === undefined ? vm : { ...vm, hostId: to, automationLevel: 'disabled' };
    }),
  };
}
