import type { Snapshot, SnapshotHost, SnapshotVm } from './snapshot.js';
import { findRuleConflicts } from './rule-conflicts.js';

/**
 * The snapshot compiled into flat, index-addressed arrays: the planner evaluates hundreds of
 * thousands of candidate moves, so everything it reads in that loop is a typed-array lookup.
 * Hosts and VMs are numbered in snapshot order, which is also every tie-break order.
 */
export const AUTOMATION_DEFAULT = 0;
export const AUTOMATION_MANUAL = 1;
export const AUTOMATION_DISABLED = 2;

/** Migration link speed assumed for a host that does not say (10 Gb/s). */
export const DEFAULT_BANDWIDTH_MBPS = 10_000;

const NO_GROUP = -1;

export interface CompiledRule {
  readonly index: number;
  readonly id: string;
  readonly kind: 'vm-anti-affinity' | 'vm-affinity' | 'vm-host-affinity' | 'vm-host-anti-affinity';
  readonly must: boolean;
  readonly vms: Int32Array;
  /** vm-host rules: 1 for the hosts the rule names. */
  readonly hostSet: Uint8Array | null;
}

/** One requirement set (group, networks or datastores) and the hosts that meet it. */
interface Requirement {
  readonly label: string;
  readonly hosts: Uint8Array;
}

export interface Model {
  readonly snapshot: Snapshot;
  readonly hosts: readonly SnapshotHost[];
  readonly vms: readonly SnapshotVm[];
  readonly hostIndex: ReadonlyMap<string, number>;
  readonly vmIndex: ReadonlyMap<string, number>;
  readonly hostCount: number;
  readonly vmCount: number;

  readonly cpuCapacity: Float64Array;
  readonly memCapacity: Float64Array;
  /** 1 / capacity (the candidate loop multiplies instead of dividing). */
  readonly cpuCapacityInv: Float64Array;
  readonly memCapacityInv: Float64Array;
  /** memoryCapacityMb x memoryOvercommitRatio: the bound on configured memory of powered-on VMs. */
  readonly memLimit: Float64Array;
  /** cpuCapacityMhz x maxCpuUtilization, Infinity without a cap. */
  readonly cpuLimit: Float64Array;
  readonly connected: Uint8Array;
  readonly entering: Uint8Array;
  readonly connectedCount: number;
  readonly hostGroup: Int32Array;
  readonly bandwidth: Float64Array;
  readonly groupNames: readonly string[];

  /** Demands of powered-on VMs; 0 for powered-off ones, which load nothing. */
  readonly vmCpu: Float64Array;
  readonly vmActive: Float64Array;
  readonly vmMem: Float64Array;
  /** memoryDirtyRateMbps, 0 when absent. */
  readonly vmDirty: Float64Array;
  readonly vmOn: Uint8Array;
  readonly vmAutomation: Uint8Array;
  /** 1: migrated within the cooldown before takenAt, or held back by the caller (ModelExtras.held). */
  readonly vmCooling: Uint8Array;
  /** Why the caller holds a VM back (its index), when it does. */
  readonly vmHoldReason: ReadonlyMap<number, string>;
  /** Optional moves into one host per plan (policy.maxInflowPerHost), Infinity without a cap. */
  readonly maxInflow: number;
  readonly vmGroup: Int32Array;
  readonly vmNetworkReq: Int32Array;
  readonly vmDatastoreReq: Int32Array;
  readonly networkReqs: readonly Requirement[];
  readonly datastoreReqs: readonly Requirement[];
  /** Placement class of each VM: VMs with the same group, networks and datastores can go to the same hosts. */
  readonly vmClass: Int32Array;
  /** Per placement class: the connected hosts that meet its group, networks and datastores. */
  readonly classHosts: readonly number[][];
  readonly initialHost: Int32Array;

  readonly rules: readonly CompiledRule[];
  /** Enabled rules naming each VM (shared empty array for most VMs). */
  readonly vmRules: readonly (readonly number[])[];
  /** Must vm-affinity rules joined transitively: VMs that must share a host; -1 for none. */
  readonly vmAffinityUnit: Int32Array;
  readonly affinityUnits: readonly Int32Array[];
  /** Must rules that contradict another (rule-conflicts.ts), both sides, with the contradiction in words: never repaired. */
  readonly ruleConflicts: ReadonlyMap<string, string>;

  readonly weightCpu: number;
  readonly weightMem: number;
}

const EMPTY: readonly number[] = Object.freeze([]);

/** What a caller knows beyond the snapshot. */
export interface ModelExtras {
  /** VMs that sit out optional moves (closed loop's growing cooldown), with the reason. */
  held?: ReadonlyMap<string, string>;
}

export function compileModel(snapshot: Snapshot, extras: ModelExtras = {}): Model {
  const { hosts, vms, policy } = snapshot;
  const hostCount = hosts.length;
  const vmCount = vms.length;
  const hostIndex = new Map<string, number>();
  hosts.forEach((h, i) => hostIndex.set(h.id, i));
  const vmIndex = new Map<string, number>();
  vms.forEach((v, i) => vmIndex.set(v.id, i));

  const groupIds = new Map<string, number>();
  const groupOf = (name: string | undefined): number => {
    if (name === undefined) return NO_GROUP;
    let id = groupIds.get(name);
    if (id === undefined) {
      id = groupIds.size;
      groupIds.set(name, id);
    }
    return id;
  };

  const cpuCapacity = new Float64Array(hostCount);
  const memCapacity = new Float64Array(hostCount);
  const memLimit = new Float64Array(hostCount);
  const cpuLimit = new Float64Array(hostCount);
  const connected = new Uint8Array(hostCount);
  const entering = new Uint8Array(hostCount);
  const hostGroup = new Int32Array(hostCount);
  const bandwidth = new Float64Array(hostCount);
  let connectedCount = 0;
  for (let h = 0; h < hostCount; h++) {
    const host = hosts[h];
    cpuCapacity[h] = host.cpuCapacityMhz;
    memCapacity[h] = host.memoryCapacityMb;
    memLimit[h] = host.memoryCapacityMb * policy.memoryOvercommitRatio;
    cpuLimit[h] = policy.maxCpuUtilization === undefined ? Infinity : host.cpuCapacityMhz * policy.maxCpuUtilization;
    connected[h] = host.state === 'connected' ? 1 : 0;
    entering[h] = host.state === 'entering-maintenance' ? 1 : 0;
    connectedCount += connected[h];
    hostGroup[h] = groupOf(host.compatibilityGroup);
    bandwidth[h] = host.migrationBandwidthMbps ?? DEFAULT_BANDWIDTH_MBPS;
  }

  const now = snapshot.takenAt === undefined ? NaN : Date.parse(snapshot.takenAt);
  const cooldownMs = (policy.migrationCooldownMinutes ?? 0) * 60_000;

  const vmCpu = new Float64Array(vmCount);
  const vmActive = new Float64Array(vmCount);
  const vmMem = new Float64Array(vmCount);
  const vmDirty = new Float64Array(vmCount);
  const vmOn = new Uint8Array(vmCount);
  const vmAutomation = new Uint8Array(vmCount);
  const vmCooling = new Uint8Array(vmCount);
  const vmGroup = new Int32Array(vmCount);
  const vmNetworkReq = new Int32Array(vmCount);
  const vmDatastoreReq = new Int32Array(vmCount);
  const initialHost = new Int32Array(vmCount);
  const networkReqs = new RequirementTable(hosts, (h) => h.networks);
  const datastoreReqs = new RequirementTable(hosts, (h) => h.datastores);

  for (let v = 0; v < vmCount; v++) {
    const vm = vms[v];
    const h = hostIndex.get(vm.hostId);
    if (h === undefined) throw new Error(`VM ${vm.id} is on unknown host ${vm.hostId}: validate the snapshot first`);
    initialHost[v] = h;
    const on = vm.powerState === 'on';
    vmOn[v] = on ? 1 : 0;
    vmCpu[v] = on ? vm.cpuDemandMhz : 0;
    vmActive[v] = on ? vm.memoryActiveMb : 0;
    vmMem[v] = on ? vm.memoryMb : 0;
    vmDirty[v] = vm.memoryDirtyRateMbps ?? 0;
    // A VM on a failed host is down: no live migration leaves a dead host (only HA restarts it).
    vmAutomation[v] =
      vm.automationLevel === 'disabled' || hosts[h].state === 'failed'
        ? AUTOMATION_DISABLED
        : vm.automationLevel === 'manual'
          ? AUTOMATION_MANUAL
          : AUTOMATION_DEFAULT;
    if (cooldownMs > 0 && vm.lastMigratedAt !== undefined && !Number.isNaN(now)) {
      const age = now - Date.parse(vm.lastMigratedAt);
      vmCooling[v] = age < cooldownMs ? 1 : 0;
    }
    if (extras.held?.has(vm.id)) vmCooling[v] = 1;
    // A VM's group is fixed by the snapshot: its own, else its host's (moves never change it).
    vmGroup[v] = vm.compatibilityGroup !== undefined ? groupOf(vm.compatibilityGroup) : hostGroup[h];
    vmNetworkReq[v] = networkReqs.indexOf(vm.networks);
    vmDatastoreReq[v] = datastoreReqs.indexOf(vm.datastores);
  }

  const vmClass = new Int32Array(vmCount);
  const classHosts: number[][] = [];
  const classOf = new Map<string, number>();
  for (let v = 0; v < vmCount; v++) {
    const key = `${vmGroup[v]}|${vmNetworkReq[v]}|${vmDatastoreReq[v]}`;
    let c = classOf.get(key);
    if (c === undefined) {
      c = classHosts.length;
      classOf.set(key, c);
      const nets = networkReqs.entries[vmNetworkReq[v]].hosts;
      const stores = datastoreReqs.entries[vmDatastoreReq[v]].hosts;
      const hosts: number[] = [];
      for (let h = 0; h < hostCount; h++) if (connected[h] && hostGroup[h] === vmGroup[v] && nets[h] && stores[h]) hosts.push(h);
      classHosts.push(hosts);
    }
    vmClass[v] = c;
  }

  const vmHoldReason = new Map<number, string>();
  for (const [id, reason] of extras.held ?? []) {
    const v = vmIndex.get(id);
    if (v !== undefined) vmHoldReason.set(v, reason);
  }
  const { rules, vmRules, vmAffinityUnit, affinityUnits } = compileRules(snapshot, hostIndex, vmIndex);
  const weightSum = policy.resourceWeights.cpu + policy.resourceWeights.memory;

  return {
    snapshot,
    hosts,
    vms,
    hostIndex,
    vmIndex,
    hostCount,
    vmCount,
    cpuCapacity,
    memCapacity,
    cpuCapacityInv: cpuCapacity.map((x) => 1 / x),
    memCapacityInv: memCapacity.map((x) => 1 / x),
    memLimit,
    cpuLimit,
    connected,
    entering,
    connectedCount,
    hostGroup,
    bandwidth,
    groupNames: [...groupIds.keys()],
    vmCpu,
    vmActive,
    vmMem,
    vmDirty,
    vmOn,
    vmAutomation,
    vmCooling,
    vmHoldReason,
    maxInflow: policy.maxInflowPerHost ?? Infinity,
    vmGroup,
    vmNetworkReq,
    vmDatastoreReq,
    networkReqs: networkReqs.entries,
    datastoreReqs: datastoreReqs.entries,
    vmClass,
    classHosts,
    initialHost,
    rules,
    vmRules,
    vmAffinityUnit,
    affinityUnits,
    ruleConflicts: conflictWords(snapshot),
    weightCpu: policy.resourceWeights.cpu / weightSum,
    weightMem: policy.resourceWeights.memory / weightSum,
  };
}

/** Distinct requirement lists (most VMs share a handful) with the hosts that satisfy each. */
class RequirementTable {
  readonly entries: Requirement[] = [];
  private readonly byKey = new Map<string, number>();

  constructor(
    private readonly hosts: readonly SnapshotHost[],
    private readonly offered: (h: SnapshotHost) => readonly string[],
  ) {}

  indexOf(required: readonly string[]): number {
    const key = required.length === 1 ? required[0] : [...required].sort().join('\u0000');
    let index = this.byKey.get(key);
    if (index === undefined) {
      const hosts = new Uint8Array(this.hosts.length);
      this.hosts.forEach((h, i) => {
        const have = this.offered(h);
        hosts[i] = required.every((r) => have.includes(r)) ? 1 : 0;
      });
      index = this.entries.length;
      this.entries.push({ label: [...required].sort().join(', '), hosts });
      this.byKey.set(key, index);
    }
    return index;
  }
}

function compileRules(snapshot: Snapshot, hostIndex: ReadonlyMap<string, number>, vmIndex: ReadonlyMap<string, number>) {
  const vmCount = snapshot.vms.length;
  const lists: number[][] = [];
  const rules: CompiledRule[] = [];
  const parent = new Int32Array(vmCount).map((_, i) => i);
  const find = (x: number): number => {
    while (parent[x] !== x) {
      parent[x] = parent[parent[x]];
      x = parent[x];
    }
    return x;
  };
  const inAffinity = new Uint8Array(vmCount);

  for (const rule of snapshot.rules) {
    if (rule.enabled === false) continue;
    const vms = Int32Array.from(rule.vmIds, (id) => vmIndex.get(id) ?? -1).filter((v) => v >= 0);
    let hostSet: Uint8Array | null = null;
    if (rule.hostIds !== undefined) {
      hostSet = new Uint8Array(snapshot.hosts.length);
      for (const id of rule.hostIds) {
        const h = hostIndex.get(id);
        if (h !== undefined) hostSet[h] = 1;
      }
    }
    const compiled: CompiledRule = { index: rules.length, id: rule.id, kind: rule.kind, must: rule.mode === 'must', vms, hostSet };
    rules.push(compiled);
    for (const v of vms) (lists[v] ??= []).push(compiled.index);
    if (compiled.must && rule.kind === 'vm-affinity') {
      for (const v of vms) {
        inAffinity[v] = 1;
        parent[find(v)] = find(vms[0]);
      }
    }
  }

  const vmAffinityUnit = new Int32Array(vmCount).fill(-1);
  const unitOfRoot = new Map<number, number>();
  const members: number[][] = [];
  for (let v = 0; v < vmCount; v++) {
    if (!inAffinity[v]) continue;
    const root = find(v);
    let unit = unitOfRoot.get(root);
    if (unit === undefined) {
      unit = members.length;
      unitOfRoot.set(root, unit);
      members.push([]);
    }
    vmAffinityUnit[v] = unit;
    members[unit].push(v);
  }
  const vmRules: (readonly number[])[] = new Array<readonly number[]>(vmCount);
  for (let v = 0; v < vmCount; v++) vmRules[v] = lists[v] ?? EMPTY;
  return { rules, vmRules, vmAffinityUnit, affinityUnits: members.map((m) => Int32Array.from(m)) };
}

function conflictWords(snapshot: Snapshot): Map<string, string> {
  const words = new Map<string, string>();
  const add = (id: string, text: string) => words.set(id, words.has(id) ? `${words.get(id)}; ${text}` : text);
  for (const c of findRuleConflicts(snapshot.rules)) {
    add(c.ruleId, `it conflicts with must rule ${c.conflictsWith.map((id) => `"${id}"`).join(', ')}: ${c.reason}`);
    for (const id of c.conflictsWith) add(id, `it conflicts with must rule "${c.ruleId}": ${c.reason}`);
  }
  return words;
}

export function groupLabel(model: Model, group: number): string {
  return group < 0 ? 'none' : model.groupNames[group];
}
