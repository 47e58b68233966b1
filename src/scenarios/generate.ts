import type { Policy, Rule, Snapshot, SnapshotHost, SnapshotVm } from '../planner/snapshot.js';

/**
 * A seeded, deterministic generator of clusters like the samples in test/fixtures/scenarios: two host
 * models, networks mgmt/prod(/dmz), datastores ds-shared-1(/-2), VMs of 2..128 GB with 20-90 %
 * active memory and a long-tailed CPU demand, placed within capacity but skewed, plus rules (some
 * broken, all repairable), disabled, manual, powered-off and recently migrated VMs on request.
 * Same options, same document.
 */
export interface ScenarioOptions {
  seed: number;
  hosts: number;
  vms: number;
  clusterId: string;
  clusterName?: string;
  /** Number of compatibility groups (cpu-0, cpu-1, ...); 0 or absent: none. */
  compatibilityGroups?: number;
  /** Must rules of each kind, plus `should` rules (mixed kinds). */
  rules?: { antiAffinity?: number; affinity?: number; vmHostAffinity?: number; vmHostAntiAffinity?: number; should?: number };
  /** Share of the generated must rules that start broken (default 0.3). */
  brokenRuleShare?: number;
  /** Number of hosts in entering-maintenance. */
  enteringMaintenance?: number;
  /** 0: VMs spread at random; 1: strongly skewed towards some hosts. */
  imbalance: number;
  /** ISO time of the snapshot (the planner's "now"). */
  takenAt: string;
  /** Counts of special VMs. */
  poweredOff?: number;
  disabled?: number;
  manual?: number;
  /** VMs migrated within the cooldown before takenAt. */
  recentlyMigrated?: number;
  /** Overrides of the policy (defaults: the samples' policy). */
  policy?: Partial<Policy>;
  /** Host and VM id prefixes and digit counts (defaults: esx-001, vm-00001). */
  hostPrefix?: string;
  hostDigits?: number;
  vmPrefix?: string;
  /** Prefix of the rules' ids (default none: `anti-1`, `pref-1`, ...). */
  rulePrefix?: string;
  vmDigits?: number;
  /** Configured memory of all VMs as a share of the hosts' memory (default 0.7). */
  fill?: number;
  /** Average CPU demand as a share of the hosts' CPU (default 0.4). */
  cpuLoad?: number;
}

/** mulberry32: a tiny, good-enough 32-bit PRNG (deterministic across platforms). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOST_MODELS = [
  { cpuCapacityMhz: 76800, memoryCapacityMb: 524288 },
  { cpuCapacityMhz: 124800, memoryCapacityMb: 786432 },
];
const SIZES_MB = [2048, 4096, 8192, 16384, 32768, 65536, 131072];
const VCPUS_BY_SIZE: Record<number, number[]> = {
  2048: [1],
  4096: [1, 2],
  8192: [1, 2, 4],
  16384: [2, 4, 8],
  32768: [4, 8, 16],
  65536: [8, 16],
  131072: [16],
};
const MHZ_PER_VCPU = 2600;

export function generateScenario(o: ScenarioOptions): Snapshot {
  if (o.hosts < 1 || o.vms < 0) throw new Error('a scenario needs at least one host');
  const rnd = mulberry32(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const between = (lo: number, hi: number) => lo + (hi - lo) * rnd();
  const pad = (n: number, width: number) => String(n).padStart(width, '0');
  const hostPrefix = o.hostPrefix ?? 'esx-';
  const vmPrefix = o.vmPrefix ?? 'vm-';
  const hostDigits = o.hostDigits ?? Math.max(3, String(o.hosts).length);
  const vmDigits = o.vmDigits ?? Math.max(5, String(o.vms).length);
  const groups = o.compatibilityGroups ?? 0;

  // Hosts; the entering-maintenance ones are spread over the list.
  const entering = new Set<number>();
  const enteringCount = Math.min(o.enteringMaintenance ?? 0, Math.max(0, o.hosts - 1));
  for (let k = 0; k < enteringCount; k++) entering.add(Math.floor(((k + 0.5) * o.hosts) / enteringCount));
  const hosts: SnapshotHost[] = [];
  for (let i = 0; i < o.hosts; i++) {
    const model = rnd() < 0.3 ? HOST_MODELS[1] : HOST_MODELS[0];
    const host: SnapshotHost = {
      id: `${hostPrefix}${pad(i + 1, hostDigits)}`,
      ...model,
      state: entering.has(i) ? 'entering-maintenance' : 'connected',
      networks: rnd() < 0.75 ? ['mgmt', 'prod', 'dmz'] : ['mgmt', 'prod'],
      datastores: rnd() < 0.65 ? ['ds-shared-1', 'ds-shared-2'] : ['ds-shared-1'],
    };
    if (groups > 0) host.compatibilityGroup = `cpu-${i % groups}`;
    hosts.push(host);
  }

  // VM sizes: the largest size class is chosen so that the VMs fill about `fill` of the memory.
  const totalMemory = hosts.reduce((s, h) => s + h.memoryCapacityMb, 0);
  const budget = (o.fill ?? 0.7) * totalMemory;
  const perVm = o.vms === 0 ? 0 : budget / o.vms;
  let top = 1;
  while (top < SIZES_MB.length && meanSize(top + 1) <= perVm) top++;
  const sizes = SIZES_MB.slice(0, Math.max(2, top));

  // Host weights: the skew of the initial placement.
  const weight = hosts.map((h) => h.memoryCapacityMb * Math.exp(o.imbalance * 3 * (rnd() - 0.5)));
  const usedMem = new Float64Array(o.hosts);
  const vms: SnapshotVm[] = [];
  for (let i = 0; i < o.vms; i++) {
    const memoryMb = sizes[pickClass(sizes.length, rnd())];
    const vcpus = pick(VCPUS_BY_SIZE[memoryMb]);
    const tail = rnd();
    const utilization = tail < 0.75 ? between(0.02, 0.12) : tail < 0.95 ? between(0.12, 0.35) : between(0.35, 0.9);
    const networks = rnd() < 0.1 ? ['prod', 'dmz'] : ['prod'];
    const datastores = rnd() < 0.3 ? ['ds-shared-2'] : ['ds-shared-1'];
    const h = placeVm(hosts, weight, usedMem, memoryMb, networks, datastores, rnd);
    usedMem[h] += memoryMb;
    vms.push({
      id: `${vmPrefix}${pad(i + 1, vmDigits)}`,
      hostId: hosts[h].id,
      vcpus,
      memoryMb,
      cpuDemandMhz: Math.round(vcpus * MHZ_PER_VCPU * utilization),
      memoryActiveMb: Math.round(memoryMb * between(0.2, 0.9)),
      powerState: 'on',
      networks,
      datastores,
    });
  }

  // Scale CPU demand so that the cluster runs at `cpuLoad` of its CPU on average, like the samples.
  const cpuTotal = vms.reduce((sum, vm) => sum + vm.cpuDemandMhz, 0);
  const cpuCapacity = hosts.reduce((sum, h) => sum + h.cpuCapacityMhz, 0);
  const scale = cpuTotal === 0 ? 1 : ((o.cpuLoad ?? 0.4) * cpuCapacity) / cpuTotal;
  for (const vm of vms) vm.cpuDemandMhz = Math.min(vm.vcpus * MHZ_PER_VCPU, Math.round(vm.cpuDemandMhz * scale));

  const distinct = (count: number) => {
    const chosen = new Set<number>();
    while (chosen.size < Math.min(count, vms.length)) chosen.add(Math.floor(rnd() * vms.length));
    return [...chosen].sort((a, b) => a - b);
  };
  for (const v of distinct(o.poweredOff ?? 0)) vms[v].powerState = 'off';
  for (const v of distinct(o.disabled ?? 0)) vms[v].automationLevel = 'disabled';
  for (const v of distinct(o.manual ?? 0)) if (vms[v].automationLevel === undefined) vms[v].automationLevel = 'manual';
  const takenAtMs = Date.parse(o.takenAt);
  const cooldown = o.policy?.migrationCooldownMinutes ?? 30;
  for (const v of distinct(o.recentlyMigrated ?? 0)) {
    vms[v].lastMigratedAt = new Date(takenAtMs - Math.floor(rnd() * cooldown * 0.9 * 60_000) - 60_000).toISOString();
  }

  const policy: Policy = {
    automationLevel: 'fully-automated',
    migrationThreshold: 3,
    resourceWeights: { cpu: 1, memory: 1 },
    maxMovesPerRun: 50,
    memoryOvercommitRatio: 1,
    ...(o.recentlyMigrated ? { migrationCooldownMinutes: cooldown } : {}),
    ...o.policy,
  };

  return {
    version: 1,
    cluster: { id: o.clusterId, name: o.clusterName ?? o.clusterId },
    takenAt: o.takenAt,
    policy,
    hosts,
    vms,
    rules: makeRules(o, hosts, vms, rnd),
  };
}

/** Size classes are picked with weights 1, 0.7, 0.49, ...: small VMs are the most common. */
const CLASS_RATIO = 0.7;

function pickClass(classes: number, r: number): number {
  const total = (1 - Math.pow(CLASS_RATIO, classes)) / (1 - CLASS_RATIO);
  let x = r * total;
  for (let i = 0; i < classes; i++) {
    x -= Math.pow(CLASS_RATIO, i);
    if (x <= 0) return i;
  }
  return classes - 1;
}

function meanSize(classes: number): number {
  let sum = 0;
  let weights = 0;
  for (let i = 0; i < classes; i++) {
    sum += SIZES_MB[i] * Math.pow(CLASS_RATIO, i);
    weights += Math.pow(CLASS_RATIO, i);
  }
  return sum / weights;
}

/** A host for a new VM: weighted by skew among hosts it is compatible with and that have room (95 %). */
function placeVm(
  hosts: readonly SnapshotHost[],
  weight: readonly number[],
  usedMem: Float64Array,
  memoryMb: number,
  networks: readonly string[],
  datastores: readonly string[],
  rnd: () => number,
): number {
  let total = 0;
  const ok = (h: number) =>
    usedMem[h] + memoryMb <= hosts[h].memoryCapacityMb * 0.95 &&
    networks.every((n) => hosts[h].networks.includes(n)) &&
    datastores.every((d) => hosts[h].datastores.includes(d));
  for (let h = 0; h < hosts.length; h++) if (ok(h)) total += weight[h];
  if (total === 0) {
    // Everything is full or incompatible: the emptiest host that offers the networks and datastores.
    let best = 0;
    for (let h = 0; h < hosts.length; h++) {
      const offers = networks.every((n) => hosts[h].networks.includes(n)) && datastores.every((d) => hosts[h].datastores.includes(d));
      if (offers && usedMem[h] / hosts[h].memoryCapacityMb < usedMem[best] / hosts[best].memoryCapacityMb) best = h;
    }
    return best;
  }
  let r = rnd() * total;
  for (let h = 0; h < hosts.length; h++) {
    if (!ok(h)) continue;
    r -= weight[h];
    if (r <= 0) return h;
  }
  for (let h = hosts.length - 1; h >= 0; h--) if (ok(h)) return h;
  return 0;
}

function makeRules(o: ScenarioOptions, hosts: readonly SnapshotHost[], vms: SnapshotVm[], rnd: () => number): Rule[] {
  const counts = o.rules ?? {};
  const brokenShare = o.brokenRuleShare ?? 0.3;
  const rules: Rule[] = [];
  const used = new Set<number>();
  const byHost = new Map<string, number[]>();
  vms.forEach((vm, i) => byHost.set(vm.hostId, [...(byHost.get(vm.hostId) ?? []), i]));
  const connected = hosts.filter((h) => h.state === 'connected');
  const freeVm = (filter: (v: number) => boolean = () => true): number => {
    for (let tries = 0; tries < 200; tries++) {
      const v = Math.floor(rnd() * vms.length);
      if (!used.has(v) && vms[v].automationLevel === undefined && filter(v)) {
        used.add(v);
        return v;
      }
    }
    return -1;
  };
  const groupOf = (v: number) => hosts.find((h) => h.id === vms[v].hostId)?.compatibilityGroup;
  const hostOf = (id: string) => hosts.find((h) => h.id === id) as SnapshotHost;
  const take = (ids: number[]) => ids.filter((v) => v >= 0).map((v) => vms[v].id);

  const add = (kind: Rule['kind'], mode: Rule['mode'], index: number, broken: boolean) => {
    const id = `${o.rulePrefix ?? ''}${mode === 'should' ? 'pref' : kind.replace('vm-', '').replace('-affinity', '')}-${index + 1}`;
    if (kind === 'vm-anti-affinity') {
      const first = freeVm((v) => hostOf(vms[v].hostId).state === 'connected');
      if (first < 0) return;
      const k = 2 + Math.floor(rnd() * 3);
      const members = [first];
      const sameHost = (byHost.get(vms[first].hostId) ?? []).filter((v) => !used.has(v) && vms[v].automationLevel === undefined);
      if (broken && sameHost.length > 0) {
        used.add(sameHost[0]);
        members.push(sameHost[0]);
      }
      while (members.length < k) {
        const taken = new Set(members.map((v) => vms[v].hostId));
        const v = freeVm((w) => !taken.has(vms[w].hostId) && hostOf(vms[w].hostId).state === 'connected');
        if (v < 0) break;
        members.push(v);
      }
      if (members.length >= 2) rules.push({ id, kind, mode, vmIds: take(members) });
    } else if (kind === 'vm-affinity') {
      const first = freeVm((v) => hostOf(vms[v].hostId).state === 'connected');
      if (first < 0) return;
      const group = groupOf(first);
      const sameHost = (byHost.get(vms[first].hostId) ?? []).filter((v) => !used.has(v) && vms[v].automationLevel === undefined);
      let second: number;
      if (!broken && sameHost.length > 0) {
        second = sameHost[0];
        used.add(second);
      } else {
        // Same group and requirements, so that gathering them is possible.
        second = freeVm(
          (v) =>
            groupOf(v) === group &&
            vms[v].hostId !== vms[first].hostId &&
            hostOf(vms[v].hostId).state === 'connected' &&
            vms[v].networks.join() === vms[first].networks.join() &&
            vms[v].datastores.join() === vms[first].datastores.join(),
        );
      }
      if (second >= 0) rules.push({ id, kind, mode, vmIds: take([first, second]) });
    } else {
      const first = freeVm((v) => hostOf(vms[v].hostId).state === 'connected');
      if (first < 0) return;
      const group = groupOf(first);
      const inGroup = connected.filter((h) => h.compatibilityGroup === group);
      // A quarter of the group's hosts, always including (affinity) or excluding (anti) the VM's host unless broken.
      const listed = inGroup.filter((h, i) => i % 4 === index % 4 && h.id !== vms[first].hostId);
      const wantOnList = kind === 'vm-host-affinity' ? broken === false : broken === true;
      if (wantOnList) listed.push(hostOf(vms[first].hostId));
      if (listed.length === 0) return;
      rules.push({ id, kind, mode, vmIds: take([first]), hostIds: listed.map((h) => h.id).sort() });
    }
  };

  const kinds: [Rule['kind'], number][] = [
    ['vm-anti-affinity', counts.antiAffinity ?? 0],
    ['vm-affinity', counts.affinity ?? 0],
    ['vm-host-affinity', counts.vmHostAffinity ?? 0],
    ['vm-host-anti-affinity', counts.vmHostAntiAffinity ?? 0],
  ];
  for (const [kind, n] of kinds) for (let i = 0; i < n; i++) add(kind, 'must', i, rnd() < brokenShare);
  const shouldKinds: Rule['kind'][] = ['vm-anti-affinity', 'vm-affinity', 'vm-host-affinity', 'vm-host-anti-affinity'];
  for (let i = 0; i < (counts.should ?? 0); i++) add(shouldKinds[i % 4], 'should', i, rnd() < brokenShare);
  return rules;
}

/**
 * The service's demo cluster: 8 hosts, 150 VMs, visibly unbalanced, with networks, datastores, a
 * few rules (one broken) and two powered-off VMs. Always the same document.
 */
export function demoCluster(): Snapshot {
  return generateScenario({
    seed: 20261125,
    hosts: 8,
    vms: 150,
    clusterId: 'demo',
    clusterName: 'Demo cluster',
    imbalance: 0.9,
    takenAt: '2026-11-25T12:00:00.000Z',
    rules: { antiAffinity: 2, affinity: 1, vmHostAffinity: 1, should: 1 },
    brokenRuleShare: 0.5,
    poweredOff: 2,
    disabled: 1,
    hostPrefix: 'demo-esx-',
    hostDigits: 2,
    vmPrefix: 'demo-vm-',
    vmDigits: 3,
    // Ids of its own, so that the samples (anti-1, ...) import beside it.
    rulePrefix: 'demo-',
    policy: { maxMovesPerRun: 30 },
  });
}
