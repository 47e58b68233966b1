import { plan } from '../planner/plan.js';
import type { RestartPriority, Snapshot, SnapshotVm } from '../planner/snapshot.js';

/**
 * Where HA restarts the down VMs of failed hosts, pure and deterministic: the planner's evacuation
 * placement (a failed host is placed like one being evacuated: must rules, compatibility, networks,
 * datastores and capacity hold on the targets), tier by tier of restart priority, so that the
 * high-priority VMs take the room first and a lower tier gets what is left. `disabled` VMs stay down.
 *
 * A VM placed only after the planner moves running VMs out of the way is not restarted now (those
 * moves would be live migrations that the restart has to wait for): it is left unplaced, with the
 * reason, and the next evaluation tries again.
 */
export const RESTART_TIERS: readonly Exclude<RestartPriority, 'disabled'>[] = ['high', 'medium', 'low'];
export const DEFAULT_RESTART_PRIORITY: RestartPriority = 'medium';

export interface Restart {
  vmId: string;
  fromHostId: string;
  toHostId: string;
  restartPriority: RestartPriority;
}

export interface RestartPlan {
  /** In the order they should start: high first, then medium, then low. */
  restarts: Restart[];
  unplaced: { vmId: string; reason: string }[];
}

export const restartPriorityOf = (vm: Pick<SnapshotVm, 'restartPriority'>): RestartPriority => vm.restartPriority ?? DEFAULT_RESTART_PRIORITY;

/**
 * `down`: the VMs to restart (down, on a failed host, no restart in flight). The snapshot shows the
 * cluster as it is (failed hosts `failed`, the down VMs still on them, in-flight moves on their targets).
 */
export function planRestarts(snapshot: Snapshot, down: ReadonlySet<string>): RestartPlan {
  const restarts: Restart[] = [];
  const unplaced: RestartPlan['unplaced'] = [];
  const failedHosts = new Set(snapshot.hosts.filter((h) => h.state === 'failed').map((h) => h.id));
  const candidates = snapshot.vms.filter((vm) => down.has(vm.id) && failedHosts.has(vm.hostId));
  for (const vm of candidates) {
    if (restartPriorityOf(vm) === 'disabled') unplaced.push({ vmId: vm.id, reason: 'restart priority is disabled: HA leaves it down' });
  }
  // The hosts as the evacuation sees them: the failed ones are left, the others in maintenance are no target and keep their VMs.
  const hosts = snapshot.hosts.map((h) =>
    failedHosts.has(h.id) ? { ...h, state: 'entering-maintenance' as const } : h.state === 'entering-maintenance' ? { ...h, state: 'maintenance' as const } : h,
  );
  const placed = new Map<string, string>();
  for (const tier of RESTART_TIERS) {
    const inTier = new Set(candidates.filter((vm) => restartPriorityOf(vm) === tier).map((vm) => vm.id));
    if (inTier.size === 0) continue;
    const vms: SnapshotVm[] = snapshot.vms.map((vm) => {
      const to = placed.get(vm.id);
      if (to !== undefined) return { ...vm, hostId: to };
      if (!failedHosts.has(vm.hostId)) return vm;
      // HA restarts a VM whatever its DRS automation level; the others on a failed host wait (off: they neither move nor take room).
      if (inTier.has(vm.id)) return { ...vm, automationLevel: 'default', lastMigratedAt: undefined };
      return { ...vm, powerState: 'off' };
    });
    const result = plan({ ...snapshot, hosts, vms }, { mode: 'evacuate-only', evacuatePoweredOff: false });
    for (const move of result.plan.moves) {
      // Every prefix of a plan is valid; past a move of a running VM, the rest needs that move first.
      if (!inTier.has(move.vmId)) break;
      placed.set(move.vmId, move.toHostId);
      restarts.push({ vmId: move.vmId, fromHostId: move.fromHostId, toHostId: move.toHostId, restartPriority: tier });
      inTier.delete(move.vmId);
    }
    const reasons = new Map(result.plan.unresolved.filter((u) => u.vmId !== undefined).map((u) => [u.vmId as string, u.reason]));
    for (const vmId of [...inTier].sort()) {
      unplaced.push({ vmId, reason: reasons.get(vmId) ?? 'fits only once other VMs move out of the way: tried again at the next evaluation' });
    }
  }
  return { restarts, unplaced };
}
