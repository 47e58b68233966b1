import { compileModel } from './model.js';
import { Placement } from './placement.js';
import { firstRejection, type FilterContext } from './plugins/filters.js';
import { PROFILES } from './profiles.js';
import { describeBreak, isBroken } from './rules.js';
import type { Move, Snapshot } from './snapshot.js';

export interface MoveProblem {
  /** Position of the offending move in the list. */
  index: number;
  vmId: string;
  plugin: string;
  reason: string;
}

export interface MoveCheck {
  valid: boolean;
  problems: MoveProblem[];
}

/**
 * Checks a given list of moves (a hand-picked subset of a plan, a "move these VMs back" plan)
 * against the snapshot, applying them in order with the planner's own filter plugins (profile
 * `check`: no cooldown, manual VMs may move). A rejected move is not applied. After the last move,
 * a must rule that was intact and is now broken is reported at the last move touching its VMs.
 */
export function checkMoves(snapshot: Snapshot, moves: readonly Move[]): MoveCheck {
  const model = compileModel(snapshot);
  const placement = new Placement(model);
  const ctx: FilterContext = { model, placement, optional: false, unit: null };
  const problems: MoveProblem[] = [];
  const lastTouch = new Map<number, number>();

  moves.forEach((move, index) => {
    const problem = (plugin: string, reason: string) => problems.push({ index, vmId: move.vmId, plugin, reason });
    const v = model.vmIndex.get(move.vmId);
    if (v === undefined) return problem('snapshot', `unknown VM "${move.vmId}"`);
    const to = model.hostIndex.get(move.toHostId);
    if (to === undefined) return problem('snapshot', `unknown host "${move.toHostId}"`);
    const actual = model.hosts[placement.host[v]].id;
    if (actual !== move.fromHostId) return problem('sequence', `the VM is on ${actual} at this point, not ${move.fromHostId}`);
    const rejection = firstRejection(PROFILES.check.filters, ctx, v, to);
    if (rejection !== null) return problem(rejection.plugin, rejection.reason);
    placement.move(v, to);
    lastTouch.set(v, index);
  });

  for (const rule of model.rules) {
    if (!rule.must || isBroken(rule, model.initialHost) || !isBroken(rule, placement.host)) continue;
    let index = -1;
    let vm = rule.vms[0];
    for (const w of rule.vms) {
      const i = lastTouch.get(w) ?? -1;
      if (i > index) {
        index = i;
        vm = w;
      }
    }
    problems.push({
      index,
      vmId: model.vms[vm].id,
      plugin: rule.kind === 'vm-affinity' ? 'must-affinity' : 'must-rules',
      reason: `breaks must rule ${rule.id}: ${describeBreak(model, rule, placement.host)}`,
    });
  }
  problems.sort((a, c) => a.index - c.index);
  return { valid: problems.length === 0, problems };
}

/** The snapshot after the moves, applied in order without checks (unknown VMs or hosts throw). */
export function applyMoves(snapshot: Snapshot, moves: readonly Move[]): Snapshot {
  const hostIds = new Set(snapshot.hosts.map((h) => h.id));
  const where = new Map(snapshot.vms.map((vm) => [vm.id, vm.hostId]));
  for (const move of moves) {
    if (!where.has(move.vmId)) throw new Error(`unknown VM "${move.vmId}"`);
    if (!hostIds.has(move.toHostId)) throw new Error(`unknown host "${move.toHostId}"`);
    where.set(move.vmId, move.toHostId);
  }
  return {
    ...snapshot,
    vms: snapshot.vms.map((vm) => {
      const hostId = where.get(vm.id) as string;
      return hostId === vm.hostId ? vm : { ...vm, hostId };
    }),
  };
}
