import { DEFAULT_LINK_MBPS } from '../migrations/admission.js';
import { isUnfinished, type MigrationState } from '../migrations/migration-state.js';
import type { HostState } from '../planner/snapshot.js';
import type { MaintenanceOperationEntity, OperationState } from './maintenance.entity.js';

/** The window over which the current throughput is measured. */
export const THROUGHPUT_WINDOW_MS = 30_000;

const MIB = 1024 * 1024;

export type VmEvacuationStatus = 'moved' | 'in-flight' | 'waiting' | 'failed' | 'left-otherwise';

export interface OperationVmView {
  vmId: string;
  memoryMb: number;
  status: VmEvacuationStatus;
  hostId: string | null;
  migrationId: string | null;
  targetHostId: string | null;
  /** Bytes its latest migration has sent so far (with the pages sent again), as the engine reported them. */
  transferredBytes: number | null;
  error: string | null;
}

export interface OperationProgress {
  vmsTotal: number;
  vmsMoved: number;
  /** VMs whose migration has not ended yet (pending, queued or running). */
  vmsInFlight: number;
  vmsFailed: number;
  vmsRemaining: number;
  gbTotal: number;
  /** Memory copied: the VMs that left, and the part of the leaving ones' memory already on their target. */
  gbMoved: number;
  /** Bytes the operation's migrations sent over the last 30 s, in Mb/s; never above the host's migration link. */
  throughputMbps: number;
  /** Memory still to copy over the current throughput; 0 when all left, null when nothing moves. */
  etaSeconds: number | null;
}

export interface OperationView {
  id: string;
  clusterId: string;
  hostId: string;
  hostState: HostState | null;
  state: OperationState;
  includePoweredOff: boolean;
  createdAt: Date;
  deadline: Date;
  finishedAt: Date | null;
  exitedAt: Date | null;
  returnPlanId: string | null;
  requestedByKeyId: string | null;
  progress: OperationProgress;
  reasons: { vmId: string; reason: string }[] | null;
  vms: OperationVmView[];
  events: { at: Date; type: string; detail: Record<string, unknown> | null }[];
}

/** A migration of the operation away from its host, with what its progress rows say. */
export interface OperationMigrationFacts {
  id: string;
  vmId: string;
  state: MigrationState;
  targetHostId: string;
  error: string | null;
  createdAt: Date;
  finishedAt: Date | null;
  /** The last figure known: the engine's result once it succeeded, else its latest progress row. */
  transferredBytes: number | null;
  /** Of its latest progress row: what is left to send in the current pass. */
  remainingBytes: number | null;
  /** Sent by the start of the throughput window (its last progress row written by then). */
  transferredAtWindowStart: number | null;
}

/** What an operation's view is made of, read in one go for a page of operations. */
export interface OperationFacts {
  /** When they were read (the database's clock, like the times below). */
  observedAt: Date;
  hostState: HostState | null;
  /** The host's migration link; null means the default (10 Gb/s). */
  hostLinkMbps: number | null;
  vms: { id: string; hostId: string; memoryMb: number }[];
  migrations: OperationMigrationFacts[];
  events: { at: Date; type: string; detail: Record<string, unknown> | null }[];
}

/** Where the throughput window of an operation starts, seen at `now`. */
export function throughputWindowStart(op: Pick<MaintenanceOperationEntity, 'createdAt'>, now: Date): Date {
  return new Date(Math.max(now.getTime() - THROUGHPUT_WINDOW_MS, op.createdAt.getTime()));
}

const gb = (bytes: number) => Math.round((bytes / 1024 / MIB) * 100) / 100;

/** Bytes a migration sent inside the window [windowStart, now]. */
function sentInWindow(m: OperationMigrationFacts, windowStart: Date): number {
  if (m.finishedAt && m.finishedAt.getTime() <= windowStart.getTime()) return 0;
  return Math.max(0, (m.transferredBytes ?? 0) - (m.transferredAtWindowStart ?? 0));
}

/**
 * An operation with its progress (pure): each VM's state from its latest migration and where it is
 * now; progress, throughput and ETA from the bytes the migrations moved over time, bounded by the
 * host's migration link (all of the operation's migrations leave through it).
 */
export function operationView(op: MaintenanceOperationEntity, facts: OperationFacts): OperationView {
  const now = facts.observedAt;
  const vmById = new Map(facts.vms.map((vm) => [vm.id, vm]));
  const latestOf = new Map<string, OperationMigrationFacts>();
  for (const m of facts.migrations) {
    const known = latestOf.get(m.vmId);
    if (!known || m.createdAt.getTime() > known.createdAt.getTime()) latestOf.set(m.vmId, m);
  }

  let totalBytes = 0;
  let movedBytes = 0;
  const list: OperationVmView[] = op.vmIds.map((vmId) => {
    const vm = vmById.get(vmId);
    const m = latestOf.get(vmId);
    let status: VmEvacuationStatus;
    if (m?.state === 'succeeded') status = 'moved';
    else if (m && isUnfinished(m.state)) status = 'in-flight';
    else if (vm && vm.hostId !== op.hostId) status = 'left-otherwise';
    else if (m) status = 'failed';
    else status = 'waiting';
    const memoryBytes = (vm?.memoryMb ?? 0) * MIB;
    totalBytes += memoryBytes;
    if (status === 'moved' || status === 'left-otherwise') movedBytes += memoryBytes;
    else if (status === 'in-flight' && m?.remainingBytes != null) movedBytes += memoryBytes - Math.min(m.remainingBytes, memoryBytes);
    return {
      vmId,
      memoryMb: vm?.memoryMb ?? 0,
      status,
      hostId: vm?.hostId ?? null,
      migrationId: m?.id ?? null,
      targetHostId: m?.targetHostId ?? null,
      transferredBytes: m?.transferredBytes ?? null,
      error: status === 'failed' ? m!.error : null,
    };
  });

  const ended = op.state === 'completed' || op.state === 'cancelled';
  const windowStart = throughputWindowStart(op, now);
  const windowS = (now.getTime() - windowStart.getTime()) / 1000;
  const sent = facts.migrations.reduce((sum, m) => sum + sentInWindow(m, windowStart), 0);
  const linkMbps = facts.hostLinkMbps ?? DEFAULT_LINK_MBPS;
  const measuredMbps = windowS > 0 ? (sent * 8) / 1e6 / windowS : 0;
  const throughputMbps = ended ? 0 : Math.round(Math.min(measuredMbps, linkMbps) * 10) / 10;
  const remainingBytes = totalBytes - movedBytes;
  const count = (status: VmEvacuationStatus) => list.filter((vm) => vm.status === status).length;
  const left = count('moved') + count('left-otherwise');
  return {
    id: op.id,
    clusterId: op.clusterId,
    hostId: op.hostId,
    hostState: facts.hostState,
    state: op.state,
    includePoweredOff: op.includePoweredOff,
    createdAt: op.createdAt,
    deadline: op.deadline,
    finishedAt: op.finishedAt,
    exitedAt: op.exitedAt,
    returnPlanId: op.returnPlanId,
    requestedByKeyId: op.requestedByKeyId,
    progress: {
      vmsTotal: list.length,
      vmsMoved: left,
      vmsInFlight: count('in-flight'),
      vmsFailed: count('failed'),
      vmsRemaining: list.length - left,
      gbTotal: gb(totalBytes),
      gbMoved: gb(movedBytes),
      throughputMbps,
      etaSeconds: remainingBytes <= 0 ? 0 : throughputMbps > 0 ? Math.round((remainingBytes * 8) / 1e6 / throughputMbps) : null,
    },
    reasons: op.reasons,
    vms: list,
    events: facts.events,
  };
}
