import { applyMoves, plan } from '../planner/index.js';
import type { Move, Rule, Snapshot, Unresolved } from '../planner/snapshot.js';

export interface EvacuationRequest {
  hostId: string;
  includePoweredOff: boolean;
  /** Migrations not yet ended: the cluster is planned as it will be once they are done. */
  unfinished: readonly Move[];
  /** Only these VMs of the host (a retry); all by default. */
  onlyVms?: ReadonlySet<string>;
  /** Hosts a VM must not go to (its earlier attempts failed there). */
  avoid?: ReadonlyMap<string, readonly string[]>;
}

export interface Evacuation {
  /** The moves, valid in order against the cluster as it will be. */
  moves: Move[];
  /** The host's VMs that cannot leave, and why. */
  unfit: Unresolved[];
  /** The VMs that must leave (powered-off ones only with includePoweredOff). */
  leaving: string[];
}

/**
 * Plans emptying one host (pure): the cluster as it will be once the migrations not yet ended are done,
 * the host entering maintenance (other hosts already entering count as gone: no VM goes there), the
 * planner's evacuate-only mode. Earlier failed targets are kept out with must anti-affinity rules.
 */
export function planEvacuation(snapshot: Snapshot, request: EvacuationRequest): Evacuation {
  const projected = applyMoves(snapshot, request.unfinished);
  const avoidRules: Rule[] = [...(request.avoid ?? new Map())].flatMap(([vmId, hostIds]) =>
    hostIds.length > 0 ? [{ id: `maintenance-avoid-${vmId}`, kind: 'vm-host-anti-affinity', mode: 'must', vmIds: [vmId], hostIds: [...hostIds] } as Rule] : [],
  );
  const otherEntering = new Set(snapshot.hosts.filter((h) => h.state === 'entering-maintenance' && h.id !== request.hostId).map((h) => h.id));
  const leaving = projected.vms
    .filter((vm) => vm.hostId === request.hostId && (request.includePoweredOff || vm.powerState === 'on'))
    .filter((vm) => !request.onlyVms || request.onlyVms.has(vm.id))
    .map((vm) => vm.id);
  const leavingSet = new Set(leaving);
  // VMs of this host that are not part of this request stay where they are for this plan.
  const pinned = projected.vms.filter((vm) => vm.hostId === request.hostId && !leavingSet.has(vm.id)).map((vm) => vm.id);
  const stay: Rule[] = pinned.length > 0 ? [{ id: 'maintenance-stay', kind: 'vm-host-affinity', mode: 'must', vmIds: pinned, hostIds: [request.hostId] }] : [];
  const result = plan(
    {
      ...projected,
      hosts: projected.hosts.map((h) => (h.id === request.hostId ? { ...h, state: 'entering-maintenance' } : h)),
      rules: [...projected.rules, ...avoidRules, ...stay],
    },
    { mode: 'evacuate-only', evacuatePoweredOff: request.includePoweredOff },
  );
  return {
    moves: result.plan.moves.filter((m) => !otherEntering.has(m.fromHostId)),
    unfit: result.plan.unresolved.filter((u) => u.vmId !== undefined && leavingSet.has(u.vmId)),
    leaving,
  };
}
