/**
 * The cluster snapshot and plan documents of docs/FORMAT.md (version 1), as types.
 * Other tools read these documents: field names and meanings follow FORMAT.md exactly.
 */
export const HOST_STATES = [
  'connected',
  'entering-maintenance',
  'maintenance',
  'quarantine',
  'failed',
  'standby',
] as const;
export type HostState = (typeof HOST_STATES)[number];

export const AUTOMATION_LEVELS = ['manual', 'partially-automated', 'fully-automated'] as const;
export type AutomationLevel = (typeof AUTOMATION_LEVELS)[number];

export const VM_AUTOMATION_LEVELS = ['default', 'manual', 'disabled'] as const;
export type VmAutomationLevel = (typeof VM_AUTOMATION_LEVELS)[number];

export const POWER_STATES = ['on', 'off'] as const;
export type PowerState = (typeof POWER_STATES)[number];

/** The order in which HA restarts the VMs of a failed host (vSphere HA's VM restart priority); `disabled`: never restarted. */
export const RESTART_PRIORITIES = ['high', 'medium', 'low', 'disabled'] as const;
export type RestartPriority = (typeof RESTART_PRIORITIES)[number];

export const RULE_KINDS = ['vm-anti-affinity', 'vm-affinity', 'vm-host-affinity', 'vm-host-anti-affinity'] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

export const RULE_MODES = ['must', 'should'] as const;
export type RuleMode = (typeof RULE_MODES)[number];

/** Why the planner moves a VM. */
export const PLANNED_MOVE_REASONS = ['evacuation', 'rule', 'overload', 'balance'] as const;
export type PlannedMoveReason = (typeof PLANNED_MOVE_REASONS)[number];
/** Why a VM moves: the planner's reasons, or an operator's manual migration (vMotion of one VM to a chosen host). */
export const MOVE_REASONS = [...PLANNED_MOVE_REASONS, 'manual'] as const;
export type MoveReason = (typeof MOVE_REASONS)[number];

export interface Policy {
  automationLevel: AutomationLevel;
  /** 1 (conservative) .. 5 (aggressive). */
  migrationThreshold: number;
  resourceWeights: { cpu: number; memory: number };
  maxMovesPerRun: number;
  memoryOvercommitRatio: number;
  maxCpuUtilization?: number;
  migrationCooldownMinutes?: number;
  /** The closed loop (src/closedloop): every field optional, the defaults in closedloop/loop-policy.ts. */
  holdMinutes?: number;
  evaluationIntervalMinutes?: number;
  evaluationCron?: string;
  maxMigrationsPerVmDay?: number;
  maxInflowPerHost?: number;
  changeWindows?: ChangeWindows;
  healthActions?: HealthActions;
  failedHostGraceSeconds?: number;
  haRestart?: boolean;
}

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** Weekly windows in which balancing may run, in an explicit IANA time zone. */
export interface ChangeWindows {
  timeZone: string;
  /** `start`/`end` are HH:MM local times; an `end` at or before `start` runs past midnight. */
  windows: { days: Weekday[]; start: string; end: string }[];
}

export const HEALTH_SEVERITIES = ['healthy', 'moderate', 'severe'] as const;
export type HealthSeverity = (typeof HEALTH_SEVERITIES)[number];
export const HEALTH_ACTIONS = ['quarantine', 'maintenance'] as const;
export type HealthAction = (typeof HEALTH_ACTIONS)[number];
export type HealthActions = Record<Exclude<HealthSeverity, 'healthy'>, HealthAction>;

export interface SnapshotHost {
  id: string;
  cpuCapacityMhz: number;
  memoryCapacityMb: number;
  state: HostState;
  compatibilityGroup?: string;
  networks: string[];
  datastores: string[];
  migrationBandwidthMbps?: number;
  /** libvirt URI of a host managed through libvirt (the planner does not read it). */
  connectionUri?: string;
  /** Where its QEMU takes incoming migrations (the planner does not read it). */
  migrationAddress?: string;
}

export interface SnapshotVm {
  id: string;
  hostId: string;
  vcpus: number;
  memoryMb: number;
  cpuDemandMhz: number;
  memoryActiveMb: number;
  powerState: PowerState;
  automationLevel?: VmAutomationLevel;
  /** Absent: `medium`. */
  restartPriority?: RestartPriority;
  networks: string[];
  datastores: string[];
  compatibilityGroup?: string;
  memoryDirtyRateMbps?: number;
  /** Size of the VM's disks (storage vMotion copies them); the planner does not read it. */
  diskMb?: number;
  lastMigratedAt?: string;
}

export interface Rule {
  id: string;
  kind: RuleKind;
  mode: RuleMode;
  vmIds: string[];
  /** Only for vm-host-affinity and vm-host-anti-affinity. */
  hostIds?: string[];
  /** false: the rule is kept but ignored. */
  enabled?: boolean;
}

export interface Snapshot {
  version: 1;
  cluster: { id: string; name: string };
  takenAt?: string;
  policy: Policy;
  hosts: SnapshotHost[];
  vms: SnapshotVm[];
  rules: Rule[];
}

export interface Move {
  vmId: string;
  fromHostId: string;
  toHostId: string;
  /** 1 is mandatory (evacuation, a broken must rule, an operator's manual migration); 2..5 balancing, from large to slight gain. */
  priority: number;
  reason: MoveReason;
}

export interface Unresolved {
  vmId?: string;
  ruleId?: string;
  reason: string;
}

export interface Plan {
  version: 1;
  clusterId: string;
  moves: Move[];
  imbalanceBefore: number;
  imbalanceAfter: number;
  unresolved: Unresolved[];
}
