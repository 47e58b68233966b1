import type { Move, Plan, Rule, Snapshot, SnapshotVm } from '../../src/planner/snapshot.js';

/**
 * An independent check of a plan against FORMAT.md "Rules of a valid plan". It deliberately shares
 * no code with the planner (only the document types): it replays the moves on plain objects.
 *
 * Interpretations it checks, besides the six FORMAT rules:
 * - a VM's compatibility group is its own, else its snapshot host's; rules apply to powered-off VMs too;
 * - every must rule still broken at the end and every should rule broken at the end is in `unresolved`;
 * - reasons and priorities: evacuation and rule moves are priority 1, overload 1 or 2, balance 2..5;
 * - manual and cooling VMs (within migrationCooldownMinutes of takenAt) only move for evacuation or rules;
 * - soft overload and balancing moves (priority >= 2) are at most `maxOptionalMoves`.
 */
export interface ValidatorOptions {
  /** false: powered-off VMs may stay on entering-maintenance hosts (default true). */
  evacuatePoweredOff?: boolean;
  /** The cap on moves of priority >= 2 (default policy.maxMovesPerRun). */
  maxOptionalMoves?: number;
}

export interface ValidationReport {
  valid: boolean;
  errors: string[];
  imbalanceBefore: number;
  imbalanceAfter: number;
  mustBrokenBefore: string[];
  mustBrokenAfter: string[];
  /** Configured memory of the powered-on VMs the plan moves. */
  memoryMovedMb: number;
  leftOnEnteringHosts: string[];
}

const TOLERANCE = 1e-6;

export function validatePlan(snapshot: Snapshot, plan: Plan, options: ValidatorOptions = {}): ValidationReport {
  const errors: string[] = [];
  const hosts = new Map(snapshot.hosts.map((h) => [h.id, h]));
  const vms = new Map(snapshot.vms.map((v) => [v.id, v]));
  const location = new Map(snapshot.vms.map((v) => [v.id, v.hostId]));
  const groupOf = new Map(snapshot.vms.map((v) => [v.id, v.compatibilityGroup ?? hosts.get(v.hostId)?.compatibilityGroup]));
  const policy = snapshot.policy;
  const now = snapshot.takenAt === undefined ? NaN : Date.parse(snapshot.takenAt);
  const cooling = (vm: SnapshotVm) =>
    vm.lastMigratedAt !== undefined &&
    (policy.migrationCooldownMinutes ?? 0) > 0 &&
    now - Date.parse(vm.lastMigratedAt) < (policy.migrationCooldownMinutes ?? 0) * 60_000;

  const usedMem = new Map<string, number>();
  const usedCpu = new Map<string, number>();
  for (const vm of snapshot.vms) {
    if (vm.powerState !== 'on') continue;
    usedMem.set(vm.hostId, (usedMem.get(vm.hostId) ?? 0) + vm.memoryMb);
    usedCpu.set(vm.hostId, (usedCpu.get(vm.hostId) ?? 0) + vm.cpuDemandMhz);
  }

  if (plan.version !== 1) errors.push(`plan.version is ${String(plan.version)}, not 1`);
  if (plan.clusterId !== snapshot.cluster.id) errors.push(`plan.clusterId ${plan.clusterId} is not ${snapshot.cluster.id}`);

  let memoryMovedMb = 0;
  let optionalMoves = 0;
  plan.moves.forEach((move: Move, i) => {
    const at = `moves[${i}] (${move.vmId})`;
    const vm = vms.get(move.vmId);
    const target = hosts.get(move.toHostId);
    if (vm === undefined) return errors.push(`${at}: unknown VM`);
    if (target === undefined) return errors.push(`${at}: unknown host ${move.toHostId}`);
    // Rule 1: fromHostId is where the VM is at that point.
    if (location.get(vm.id) !== move.fromHostId) errors.push(`${at}: fromHostId ${move.fromHostId}, but the VM is on ${location.get(vm.id)}`);
    if (move.fromHostId === move.toHostId) errors.push(`${at}: moves to the host it is on`);
    // Rule 2: the target is connected.
    if (target.state !== 'connected') errors.push(`${at}: target ${target.id} is ${target.state}`);
    // Rule 4: networks, datastores, compatibility group.
    for (const n of vm.networks) if (!target.networks.includes(n)) errors.push(`${at}: ${target.id} lacks network ${n}`);
    for (const d of vm.datastores) if (!target.datastores.includes(d)) errors.push(`${at}: ${target.id} lacks datastore ${d}`);
    if (groupOf.get(vm.id) !== target.compatibilityGroup) errors.push(`${at}: group ${groupOf.get(vm.id)} vs ${target.id}'s ${target.compatibilityGroup}`);
    // Rule 5: disabled VMs never move.
    if (vm.automationLevel === 'disabled') errors.push(`${at}: automation level disabled`);
    // Reasons and priorities.
    const okPriority =
      move.reason === 'evacuation' || move.reason === 'rule'
        ? move.priority === 1
        : move.reason === 'overload'
          ? move.priority === 1 || move.priority === 2
          : move.reason === 'balance' && Number.isInteger(move.priority) && move.priority >= 2 && move.priority <= 5;
    if (!okPriority) errors.push(`${at}: priority ${move.priority} with reason ${move.reason}`);
    if (move.priority >= 2) {
      optionalMoves++;
      if (vm.automationLevel === 'manual') errors.push(`${at}: manual VM moved for ${move.reason}`);
      if (cooling(vm)) errors.push(`${at}: VM within its migration cooldown moved for ${move.reason}`);
    }
    // Rule 3: capacity on the target after the move.
    if (vm.powerState === 'on') {
      memoryMovedMb += vm.memoryMb;
      const from = move.fromHostId;
      usedMem.set(from, (usedMem.get(from) ?? 0) - vm.memoryMb);
      usedCpu.set(from, (usedCpu.get(from) ?? 0) - vm.cpuDemandMhz);
      const mem = (usedMem.get(target.id) ?? 0) + vm.memoryMb;
      const cpu = (usedCpu.get(target.id) ?? 0) + vm.cpuDemandMhz;
      usedMem.set(target.id, mem);
      usedCpu.set(target.id, cpu);
      if (mem > target.memoryCapacityMb * policy.memoryOvercommitRatio + TOLERANCE) {
        errors.push(`${at}: ${target.id} configured memory ${mem} MB > ${target.memoryCapacityMb * policy.memoryOvercommitRatio}`);
      }
      if (policy.maxCpuUtilization !== undefined && cpu > target.cpuCapacityMhz * policy.maxCpuUtilization + TOLERANCE) {
        errors.push(`${at}: ${target.id} CPU demand ${cpu} MHz above the ${policy.maxCpuUtilization} cap`);
      }
    }
    location.set(vm.id, target.id);
  });

  const maxOptional = options.maxOptionalMoves ?? policy.maxMovesPerRun;
  if (optionalMoves > maxOptional) errors.push(`${optionalMoves} moves of priority >= 2, above the cap ${maxOptional}`);

  // Rule 2 (end): entering-maintenance hosts are emptied, or the VM is in unresolved.
  const unresolvedVms = new Set(plan.unresolved.flatMap((u) => (u.vmId === undefined ? [] : [u.vmId])));
  const unresolvedRules = new Set(plan.unresolved.flatMap((u) => (u.ruleId === undefined ? [] : [u.ruleId])));
  const leftOnEnteringHosts: string[] = [];
  for (const vm of snapshot.vms) {
    const h = hosts.get(location.get(vm.id) as string);
    if (h?.state !== 'entering-maintenance') continue;
    if (vm.powerState === 'off' && options.evacuatePoweredOff === false) continue;
    leftOnEnteringHosts.push(vm.id);
    if (!unresolvedVms.has(vm.id)) errors.push(`${vm.id} stays on entering-maintenance host ${h.id} and is not in unresolved`);
  }

  // Rule 6: no must rule newly broken; broken rules left are reported.
  const before = new Map(snapshot.vms.map((v) => [v.id, v.hostId]));
  const enabled = snapshot.rules.filter((r) => r.enabled !== false);
  const mustBrokenBefore = enabled.filter((r) => r.mode === 'must' && ruleBroken(r, before)).map((r) => r.id);
  const mustBrokenAfter = enabled.filter((r) => r.mode === 'must' && ruleBroken(r, location)).map((r) => r.id);
  for (const id of mustBrokenAfter) {
    if (!mustBrokenBefore.includes(id)) errors.push(`must rule ${id} is broken by the plan`);
    else if (!unresolvedRules.has(id)) errors.push(`must rule ${id} is left broken and not in unresolved`);
  }
  for (const r of enabled) {
    if (r.mode === 'should' && ruleBroken(r, location) && !unresolvedRules.has(r.id)) errors.push(`should rule ${r.id} is left broken and not in unresolved`);
  }

  const imbalanceBefore = imbalance(snapshot, before);
  const imbalanceAfter = imbalance(snapshot, location);
  if (Math.abs(imbalanceBefore - plan.imbalanceBefore) > 1e-9) errors.push(`imbalanceBefore ${plan.imbalanceBefore}, recomputed ${imbalanceBefore}`);
  if (Math.abs(imbalanceAfter - plan.imbalanceAfter) > 1e-9) errors.push(`imbalanceAfter ${plan.imbalanceAfter}, recomputed ${imbalanceAfter}`);

  return { valid: errors.length === 0, errors, imbalanceBefore, imbalanceAfter, mustBrokenBefore, mustBrokenAfter, memoryMovedMb, leftOnEnteringHosts };
}

export function ruleBroken(rule: Rule, location: ReadonlyMap<string, string>): boolean {
  const at = rule.vmIds.map((id) => location.get(id) as string);
  const listed = new Set(rule.hostIds ?? []);
  switch (rule.kind) {
    case 'vm-anti-affinity':
      return new Set(at).size < at.length;
    case 'vm-affinity':
      return new Set(at).size > 1;
    case 'vm-host-affinity':
      return at.some((h) => !listed.has(h));
    case 'vm-host-anti-affinity':
      return at.some((h) => listed.has(h));
  }
}

/** FORMAT.md's reference imbalance for VMs placed by `location`. */
export function imbalance(snapshot: Snapshot, location: ReadonlyMap<string, string>): number {
  const cpu = new Map<string, number>();
  const mem = new Map<string, number>();
  for (const vm of snapshot.vms) {
    if (vm.powerState !== 'on') continue;
    const h = location.get(vm.id) as string;
    cpu.set(h, (cpu.get(h) ?? 0) + vm.cpuDemandMhz);
    mem.set(h, (mem.get(h) ?? 0) + vm.memoryActiveMb);
  }
  const connected = snapshot.hosts.filter((h) => h.state === 'connected');
  const sd = (xs: number[]) => {
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    return Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length);
  };
  if (connected.length === 0) return 0;
  const { cpu: wc, memory: wm } = snapshot.policy.resourceWeights;
  const cpuSd = sd(connected.map((h) => (cpu.get(h.id) ?? 0) / h.cpuCapacityMhz));
  const memSd = sd(connected.map((h) => (mem.get(h.id) ?? 0) / h.memoryCapacityMb));
  return (wc * cpuSd + wm * memSd) / (wc + wm);
}
