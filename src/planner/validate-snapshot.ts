import {
  AUTOMATION_LEVELS,
  HEALTH_ACTIONS,
  WEEKDAYS,
  type ChangeWindows,
  type HealthActions,
  HOST_STATES,
  POWER_STATES,
  RESTART_PRIORITIES,
  RULE_KINDS,
  RULE_MODES,
  VM_AUTOMATION_LEVELS,
  type Rule,
  type Snapshot,
  type SnapshotHost,
  type SnapshotVm,
} from './snapshot.js';
import { LIMITS, timeOutOfRange } from './limits.js';

/** A snapshot that breaks FORMAT.md; `field` is the JSON path of the first offending value. */
export class SnapshotError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

type Json = Record<string, unknown>;

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/;

/** Reads one JSON object field by field; every failure names its JSON path. */
export class Reader {
  constructor(
    private readonly value: Json,
    readonly path: string,
  ) {}

  private fail(key: string, reason: string): never {
    throw new SnapshotError(`${this.path}.${key}`, reason);
  }

  /** Fails on a key that is not in `allowed` (request bodies are strict, snapshots are not). */
  rejectUnknown(allowed: readonly string[]): void {
    for (const key of Object.keys(this.value)) {
      if (!allowed.includes(key)) this.fail(key, `unknown field (allowed: ${allowed.join(', ')})`);
    }
  }

  has(key: string): boolean {
    return this.value[key] !== undefined;
  }

  id(key: string): string {
    const v = this.value[key];
    if (typeof v !== 'string' || !ID_PATTERN.test(v)) {
      this.fail(key, `must be an id (letters, digits and . _ : @ / -, at most 128 characters), got ${show(v)}`);
    }
    return v;
  }

  text(key: string): string {
    const v = this.value[key];
    if (typeof v !== 'string' || v.length === 0 || v.length > 256) this.fail(key, `must be a non-empty string, got ${show(v)}`);
    return v;
  }

  number(key: string, opts: { min?: number; minExclusive?: number; max?: number; integer?: boolean } = {}): number {
    const v = this.value[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, `must be a number, got ${show(v)}`);
    if (opts.integer && !Number.isInteger(v)) this.fail(key, `must be a whole number, got ${v}`);
    if (opts.min !== undefined && v < opts.min) this.fail(key, `must be >= ${opts.min}, got ${v}`);
    if (opts.minExclusive !== undefined && v <= opts.minExclusive) this.fail(key, `must be > ${opts.minExclusive}, got ${v}`);
    if (opts.max !== undefined && v > opts.max) this.fail(key, `must be <= ${opts.max}, got ${v}`);
    return v;
  }

  optionalNumber(key: string, opts: Parameters<Reader['number']>[1]): number | undefined {
    return this.has(key) ? this.number(key, opts) : undefined;
  }

  oneOf<T extends string>(key: string, values: readonly T[]): T {
    const v = this.value[key];
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      this.fail(key, `must be one of ${values.join(', ')}, got ${show(v)}`);
    }
    return v as T;
  }

  optionalOneOf<T extends string>(key: string, values: readonly T[]): T | undefined {
    return this.has(key) ? this.oneOf(key, values) : undefined;
  }

  optionalMatching(key: string, pattern: RegExp, what: string): string | undefined {
    if (!this.has(key)) return undefined;
    const v = this.text(key);
    if (!pattern.test(v)) this.fail(key, `must be ${what}, got ${show(v)}`);
    return v;
  }

  optionalId(key: string): string | undefined {
    return this.has(key) ? this.id(key) : undefined;
  }

  boolean(key: string): boolean | undefined {
    if (!this.has(key)) return undefined;
    const v = this.value[key];
    if (typeof v !== 'boolean') this.fail(key, `must be true or false, got ${show(v)}`);
    return v;
  }

  timestamp(key: string): string | undefined {
    if (!this.has(key)) return undefined;
    const v = this.value[key];
    if (typeof v !== 'string' || !/^\d{4}-\d\d-\d\dT/.test(v) || Number.isNaN(Date.parse(v))) {
      this.fail(key, `must be an ISO 8601 date-time, got ${show(v)}`);
    }
    const outOfRange = timeOutOfRange(Date.parse(v));
    if (outOfRange) this.fail(key, `${outOfRange}, got ${show(v)}`);
    return v;
  }

  ids(key: string, opts: { nonEmpty?: boolean; optional?: boolean } = {}): string[] {
    const v = this.value[key];
    if (v === undefined && opts.optional) return [];
    if (!Array.isArray(v)) this.fail(key, `must be an array of ids, got ${show(v)}`);
    if (opts.nonEmpty && v.length === 0) this.fail(key, 'must not be empty');
    const seen = new Set<string>();
    v.forEach((item, i) => {
      if (typeof item !== 'string' || !ID_PATTERN.test(item)) this.fail(`${key}[${i}]`, `must be an id, got ${show(item)}`);
      if (seen.has(item)) this.fail(`${key}[${i}]`, `"${item}" is listed twice`);
      seen.add(item);
    });
    return v as string[];
  }

  /** An array of distinct whole numbers >= 0, in the order given. */
  indexes(key: string): number[] {
    const v = this.value[key];
    if (!Array.isArray(v)) this.fail(key, `must be an array of whole numbers, got ${show(v)}`);
    const seen = new Set<number>();
    v.forEach((item, i) => {
      if (typeof item !== 'number' || !Number.isInteger(item) || item < 0) this.fail(`${key}[${i}]`, `must be a whole number >= 0, got ${show(item)}`);
      if (seen.has(item)) this.fail(`${key}[${i}]`, `${item} is listed twice`);
      seen.add(item);
    });
    return v as number[];
  }

  object(key: string): Reader {
    const v = this.value[key];
    if (!isObject(v)) this.fail(key, `must be an object, got ${show(v)}`);
    return new Reader(v, `${this.path}.${key}`);
  }

  list(key: string): Reader[] {
    const v = this.value[key];
    if (!Array.isArray(v)) this.fail(key, `must be an array, got ${show(v)}`);
    return v.map((item, i) => {
      if (!isObject(item)) throw new SnapshotError(`${this.path}.${key}[${i}]`, `must be an object, got ${show(item)}`);
      const id = typeof item.id === 'string' ? ` (${item.id})` : '';
      return new Reader(item, `${this.path}.${key}[${i}]${id}`);
    });
  }
}

export function readerOf(value: unknown, path: string): Reader {
  if (!isObject(value)) throw new SnapshotError(path, `must be a JSON object, got ${show(value)}`);
  return new Reader(value, path);
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    // Nested too deep to stringify: the type is enough to say what is wrong.
    text = Array.isArray(v) ? '[...]' : '{...}';
  }
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function drop<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] === undefined) delete value[key];
  return value;
}

function unique(items: Reader[], label: string): void {
  const seen = new Set<string>();
  for (const item of items) {
    const id = item.id('id');
    if (seen.has(id)) throw new SnapshotError(`${item.path}.id`, `duplicate ${label} id "${id}"`);
    seen.add(id);
  }
}

/** DRS's defaults, for the fields a policy leaves out: fully automated at the middle threshold. */
export const DEFAULT_POLICY: Snapshot['policy'] = {
  automationLevel: 'fully-automated',
  migrationThreshold: 3,
  resourceWeights: { cpu: 1, memory: 1 },
  maxMovesPerRun: 50,
  memoryOvercommitRatio: 1,
};

export function validatePolicy(policy: Reader): Snapshot['policy'] {
  const orDefault = <K extends keyof Snapshot['policy']>(key: K, read: () => Snapshot['policy'][K]) => (policy.has(key) ? read() : DEFAULT_POLICY[key]);
  const resourceWeights = policy.has('resourceWeights') ? ((): Snapshot['policy']['resourceWeights'] => {
    const weights = policy.object('resourceWeights');
    const cpu = weights.number('cpu', { min: 0, max: LIMITS.resourceWeight });
    const memory = weights.number('memory', { min: 0, max: LIMITS.resourceWeight });
    if (cpu + memory <= 0) throw new SnapshotError(`${weights.path}`, 'cpu and memory weights must not both be 0');
    return { cpu, memory };
  })() : { ...DEFAULT_POLICY.resourceWeights };
  return drop({
    automationLevel: orDefault('automationLevel', () => policy.oneOf('automationLevel', AUTOMATION_LEVELS)),
    migrationThreshold: orDefault('migrationThreshold', () => policy.number('migrationThreshold', { integer: true, min: 1, max: 5 })),
    resourceWeights,
    maxMovesPerRun: orDefault('maxMovesPerRun', () => policy.number('maxMovesPerRun', { integer: true, min: 0, max: LIMITS.movesPerPlan })),
    memoryOvercommitRatio: orDefault('memoryOvercommitRatio', () => policy.number('memoryOvercommitRatio', { minExclusive: 0, max: LIMITS.memoryOvercommitRatio })),
    maxCpuUtilization: policy.optionalNumber('maxCpuUtilization', { minExclusive: 0, max: 1 }),
    migrationCooldownMinutes: policy.optionalNumber('migrationCooldownMinutes', { min: 0, max: LIMITS.minutes }),
    holdMinutes: policy.optionalNumber('holdMinutes', { min: 0, max: 1440 }),
    evaluationIntervalMinutes: policy.optionalNumber('evaluationIntervalMinutes', { minExclusive: 0, max: 1440 }),
    evaluationCron: policy.has('evaluationCron') ? cronText(policy, 'evaluationCron') : undefined,
    maxMigrationsPerVmDay: policy.optionalNumber('maxMigrationsPerVmDay', { min: 0, max: LIMITS.perVmOrHost }),
    maxInflowPerHost: policy.optionalNumber('maxInflowPerHost', { integer: true, min: 1, max: LIMITS.perVmOrHost }),
    changeWindows: policy.has('changeWindows') ? changeWindows(policy.object('changeWindows')) : undefined,
    healthActions: policy.has('healthActions') ? healthActions(policy.object('healthActions')) : undefined,
    failedHostGraceSeconds: policy.optionalNumber('failedHostGraceSeconds', { min: 1, max: LIMITS.seconds }),
    haRestart: policy.boolean('haRestart'),
  });
}

/** Five cron fields (minute hour day-of-month month day-of-week) of digits and * , - /. */
function cronText(policy: Reader, key: string): string {
  const text = policy.text(key);
  if (!/^[\d*,/-]+( [\d*,/-]+){4}$/.test(text.trim())) {
    throw new SnapshotError(`${policy.path}.${key}`, `must be five cron fields (minute hour day month weekday), got ${show(text)}`);
  }
  return text.trim();
}

const HH_MM = /^([01]\d|2[0-3]):[0-5]\d$/;

function changeWindows(r: Reader): ChangeWindows {
  r.rejectUnknown(['timeZone', 'windows']);
  const timeZone = r.text('timeZone');
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new SnapshotError(`${r.path}.timeZone`, `must be an IANA time zone such as Europe/Berlin or UTC, got ${show(timeZone)}`);
  }
  const windows = r.list('windows').map((w) => {
    w.rejectUnknown(['days', 'start', 'end']);
    const days = w.ids('days', { nonEmpty: true });
    days.forEach((day, i) => {
      if (!(WEEKDAYS as readonly string[]).includes(day)) throw new SnapshotError(`${w.path}.days[${i}]`, `must be one of ${WEEKDAYS.join(', ')}, got ${show(day)}`);
    });
    const time = (key: string) => {
      const v = w.text(key);
      if (!HH_MM.test(v)) throw new SnapshotError(`${w.path}.${key}`, `must be a time HH:MM, got ${show(v)}`);
      return v;
    };
    return { days: days as ChangeWindows['windows'][number]['days'], start: time('start'), end: time('end') };
  });
  if (windows.length === 0) throw new SnapshotError(`${r.path}.windows`, 'must not be empty (leave changeWindows out to allow balancing at any time)');
  return { timeZone, windows };
}

function healthActions(r: Reader): HealthActions {
  r.rejectUnknown(['moderate', 'severe']);
  return { moderate: r.optionalOneOf('moderate', HEALTH_ACTIONS) ?? 'quarantine', severe: r.optionalOneOf('severe', HEALTH_ACTIONS) ?? 'maintenance' };
}

export const HOST_FIELDS = [
  'id', 'cpuCapacityMhz', 'memoryCapacityMb', 'state', 'compatibilityGroup', 'networks', 'datastores', 'migrationBandwidthMbps',
  'connectionUri', 'migrationAddress',
] as const;

/** `driver[+transport]://[user@][host][:port]/path[?query]`, as libvirt takes them. */
const LIBVIRT_URI = /^[a-z][a-z0-9]*(\+[a-z0-9]+)?:\/\/[^\s/]*\/[^\s]*$/i;
const MIGRATION_ADDRESS = /^(\[[0-9a-f:]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

export function parseHost(h: Reader): SnapshotHost {
  return drop({
    id: h.id('id'),
    cpuCapacityMhz: h.number('cpuCapacityMhz', { minExclusive: 0, max: LIMITS.cpuMhz }),
    memoryCapacityMb: h.number('memoryCapacityMb', { minExclusive: 0, max: LIMITS.memoryMb }),
    state: h.oneOf('state', HOST_STATES),
    compatibilityGroup: h.optionalId('compatibilityGroup'),
    networks: h.ids('networks', { optional: true }),
    datastores: h.ids('datastores', { optional: true }),
    migrationBandwidthMbps: h.optionalNumber('migrationBandwidthMbps', { minExclusive: 0, max: LIMITS.rateMbps }),
    connectionUri: h.optionalMatching('connectionUri', LIBVIRT_URI, 'a libvirt URI such as qemu+ssh://root@kvm-07/system'),
    migrationAddress: h.optionalMatching('migrationAddress', MIGRATION_ADDRESS, 'an address or address:port'),
  });
}

export const VM_FIELDS = [
  'id', 'hostId', 'vcpus', 'memoryMb', 'cpuDemandMhz', 'memoryActiveMb', 'powerState', 'automationLevel', 'restartPriority',
  'networks', 'datastores', 'compatibilityGroup', 'memoryDirtyRateMbps', 'diskMb', 'lastMigratedAt',
] as const;

/** A VM on its own; whether its host exists is the caller's check. */
export function parseVm(v: Reader): SnapshotVm {
  return drop({
    id: v.id('id'),
    hostId: v.id('hostId'),
    vcpus: v.number('vcpus', { integer: true, minExclusive: 0, max: LIMITS.vcpus }),
    memoryMb: v.number('memoryMb', { minExclusive: 0, max: LIMITS.memoryMb }),
    cpuDemandMhz: v.number('cpuDemandMhz', { min: 0, max: LIMITS.cpuMhz }),
    // Optional: the reference imbalance counts memoryMb for a VM without it.
    memoryActiveMb: v.optionalNumber('memoryActiveMb', { min: 0, max: LIMITS.memoryMb }) ?? v.number('memoryMb', { minExclusive: 0, max: LIMITS.memoryMb }),
    powerState: v.oneOf('powerState', POWER_STATES),
    automationLevel: v.optionalOneOf('automationLevel', VM_AUTOMATION_LEVELS),
    restartPriority: v.optionalOneOf('restartPriority', RESTART_PRIORITIES),
    networks: v.ids('networks', { optional: true }),
    datastores: v.ids('datastores', { optional: true }),
    compatibilityGroup: v.optionalId('compatibilityGroup'),
    memoryDirtyRateMbps: v.optionalNumber('memoryDirtyRateMbps', { min: 0, max: LIMITS.rateMbps }),
    diskMb: v.optionalNumber('diskMb', { minExclusive: 0, max: LIMITS.diskMb }),
    lastMigratedAt: v.timestamp('lastMigratedAt'),
  });
}

export const RULE_FIELDS = ['id', 'kind', 'mode', 'vmIds', 'hostIds', 'enabled'] as const;

/** A rule on its own; whether its VMs and hosts exist is the caller's check. */
export function parseRule(r: Reader): Rule {
  const kind = r.oneOf('kind', RULE_KINDS);
  const vmIds = r.ids('vmIds', { nonEmpty: true });
  const namesHosts = kind === 'vm-host-affinity' || kind === 'vm-host-anti-affinity';
  if (!namesHosts && r.has('hostIds')) throw new SnapshotError(`${r.path}.hostIds`, `only vm-host rules name hosts, not ${kind}`);
  if (!namesHosts && vmIds.length < 2) throw new SnapshotError(`${r.path}.vmIds`, `a ${kind} rule needs at least 2 VMs`);
  return drop({
    id: r.id('id'),
    kind,
    mode: r.oneOf('mode', RULE_MODES),
    vmIds,
    hostIds: namesHosts ? r.ids('hostIds', { nonEmpty: true }) : undefined,
    enabled: r.boolean('enabled'),
  });
}

export const POLICY_FIELDS = [
  'automationLevel', 'migrationThreshold', 'resourceWeights', 'maxMovesPerRun', 'memoryOvercommitRatio',
  'maxCpuUtilization', 'migrationCooldownMinutes', 'holdMinutes', 'evaluationIntervalMinutes', 'evaluationCron',
  'maxMigrationsPerVmDay', 'maxInflowPerHost', 'changeWindows', 'healthActions', 'failedHostGraceSeconds', 'haRestart',
] as const;

/** A policy object on its own (for the API), with the same rules as inside a snapshot. */
export function parsePolicy(value: unknown, path = 'policy'): Snapshot['policy'] {
  const reader = readerOf(value, path);
  reader.rejectUnknown(POLICY_FIELDS);
  return validatePolicy(reader);
}

/**
 * Checks a parsed JSON document against FORMAT.md and returns it as a typed Snapshot with only the
 * known fields. Throws a SnapshotError naming the first offending item.
 */
export function validateSnapshot(doc: unknown): Snapshot {
  if (!isObject(doc)) throw new SnapshotError('snapshot', 'must be a JSON object');
  const root = new Reader(doc, 'snapshot');
  if (doc.version !== 1) throw new SnapshotError('snapshot.version', `must be 1, got ${show(doc.version)}`);
  const cluster = root.object('cluster');
  const hostReaders = root.list('hosts');
  const vmReaders = root.list('vms');
  const ruleReaders = doc.rules === undefined ? [] : root.list('rules');
  unique(hostReaders, 'host');
  unique(vmReaders, 'VM');
  unique(ruleReaders, 'rule');

  const hosts = hostReaders.map(parseHost);
  const hostIds = new Set(hosts.map((h) => h.id));

  const vms = vmReaders.map((v) => {
    const vm = parseVm(v);
    if (!hostIds.has(vm.hostId)) throw new SnapshotError(`${v.path}.hostId`, `unknown host "${vm.hostId}"`);
    return vm;
  });
  const vmIds = new Set(vms.map((v) => v.id));

  const rules = ruleReaders.map((r) => {
    const rule = parseRule(r);
    rule.vmIds.forEach((id, i) => {
      if (!vmIds.has(id)) throw new SnapshotError(`${r.path}.vmIds[${i}]`, `unknown VM "${id}"`);
    });
    rule.hostIds?.forEach((id, i) => {
      if (!hostIds.has(id)) throw new SnapshotError(`${r.path}.hostIds[${i}]`, `unknown host "${id}"`);
    });
    return rule;
  });

  return drop({
    version: 1 as const,
    cluster: { id: cluster.id('id'), name: cluster.text('name') },
    takenAt: root.timestamp('takenAt'),
    policy: validatePolicy(root.object('policy')),
    hosts,
    vms,
    rules,
  });
}
