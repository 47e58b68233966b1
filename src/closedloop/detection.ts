import { referenceImbalance } from '../planner/imbalance.js';
import type { Snapshot } from '../planner/snapshot.js';
import { thresholdLevel } from '../planner/thresholds.js';
import { loopPolicy, overloadLines } from './loop-policy.js';

/**
 * Detection with a hold time, pure (the caller says what time it is): a condition opens a
 * detection when first seen, the detection *holds* once the condition was seen at every
 * evaluation for `holdMinutes`, and it closes the first time the condition is not seen.
 */
export const DETECTION_KINDS = ['overloaded', 'imbalanced'] as const;
export type DetectionKind = (typeof DETECTION_KINDS)[number];

export interface Detection {
  kind: DetectionKind;
  /** The host (overloaded) or the cluster (imbalanced). */
  subject: string;
  /** ms since the epoch when the condition was first seen, and at the last evaluation. */
  since: number;
  lastSeenAt: number;
  /** The measured figure and the line it is above, at the last evaluation. */
  value: number;
  line: number;
  /** `cpu` or `memory` for an overloaded host. */
  resource?: 'cpu' | 'memory';
}

export interface DetectionResult {
  open: Detection[];
  /** Detections that have held since this evaluation (the events that call for action). */
  fired: Detection[];
  /** Detections of the previous evaluation whose condition is gone. */
  cleared: Detection[];
}

export interface HostUtilization {
  hostId: string;
  cpu: number;
  memory: number;
}

/** CPU and active-memory utilization of each connected host (powered-on VMs only). */
export function hostUtilizations(snapshot: Snapshot): HostUtilization[] {
  const cpu = new Map<string, number>();
  const mem = new Map<string, number>();
  for (const vm of snapshot.vms) {
    if (vm.powerState !== 'on') continue;
    cpu.set(vm.hostId, (cpu.get(vm.hostId) ?? 0) + vm.cpuDemandMhz);
    mem.set(vm.hostId, (mem.get(vm.hostId) ?? 0) + vm.memoryActiveMb);
  }
  return snapshot.hosts
    .filter((h) => h.state === 'connected')
    .map((h) => ({ hostId: h.id, cpu: (cpu.get(h.id) ?? 0) / h.cpuCapacityMhz, memory: (mem.get(h.id) ?? 0) / h.memoryCapacityMb }));
}

/** The conditions seen in a snapshot now (its demand being the smoothed one). */
export function conditions(snapshot: Snapshot): Omit<Detection, 'since' | 'lastSeenAt'>[] {
  const lines = overloadLines(snapshot.policy);
  const seen: Omit<Detection, 'since' | 'lastSeenAt'>[] = [];
  for (const h of hostUtilizations(snapshot)) {
    if (h.cpu > lines.cpu) seen.push({ kind: 'overloaded', subject: h.hostId, value: h.cpu, line: lines.cpu, resource: 'cpu' });
    else if (h.memory > lines.memory) seen.push({ kind: 'overloaded', subject: h.hostId, value: h.memory, line: lines.memory, resource: 'memory' });
  }
  const target = thresholdLevel(snapshot.policy.migrationThreshold).targetImbalance;
  if (target !== null) {
    const imbalance = referenceImbalance(snapshot);
    if (imbalance > target) seen.push({ kind: 'imbalanced', subject: snapshot.cluster.id, value: imbalance, line: target });
  }
  return seen;
}

const key = (d: Pick<Detection, 'kind' | 'subject'>) => `${d.kind}\u0000${d.subject}`;

export function isHeld(d: Detection, holdMs: number, now: number): boolean {
  return now - d.since >= holdMs;
}

export function holdLeftMs(d: Detection, holdMs: number, now: number): number {
  return Math.max(0, d.since + holdMs - now);
}

/** One evaluation's step: what is open now, what has just started to hold, what has cleared. */
export function detect(previous: readonly Detection[], snapshot: Snapshot, now: number): DetectionResult {
  const { holdMs } = loopPolicy(snapshot.policy);
  const before = new Map(previous.map((d) => [key(d), d]));
  const open: Detection[] = [];
  const fired: Detection[] = [];
  for (const c of conditions(snapshot)) {
    const earlier = before.get(key(c));
    const detection: Detection = { ...c, since: earlier?.since ?? now, lastSeenAt: now };
    before.delete(key(c));
    open.push(detection);
    const heldBefore = earlier !== undefined && isHeld(earlier, holdMs, earlier.lastSeenAt);
    if (isHeld(detection, holdMs, now) && !heldBefore) fired.push(detection);
  }
  return { open, fired, cleared: [...before.values()] };
}

