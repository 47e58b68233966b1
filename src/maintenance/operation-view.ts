import type { EntityManager } from 'typeorm';
import { isUnfinished } from '../migrations/migration-state.js';
import type { MigrationsRepository } from '../migrations/migrations.repository.js';
import type { HostState } from '../planner/snapshot.js';
import type { MaintenanceOperationEntity, OperationState } from './maintenance.entity.js';

/** The window over which the current throughput is measured. */
const THROUGHPUT_WINDOW_MS = 30_000;

export type VmEvacuationStatus = 'moved' | 'in-flight' | 'waiting' | 'failed' | 'left-otherwise';

export interface OperationVmView {
  vmId: string;
  memoryMb: number;
  status: VmEvacuationStatus;
  hostId: string | null;
  migrationId: string | null;
  targetHostId: string | null;
  error: string | null;
}

export interface OperationProgress {
  vmsTotal: number;
  vmsMoved: number;
  vmsInFlight: number;
  vmsFailed: number;
  vmsRemaining: number;
  gbTotal: number;
  gbMoved: number;
  /** VM memory moved per second over the last 30 s, in Mb/s. */
  throughputMbps: number;
  /** At the current throughput; null when nothing moves. */
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
  progress: OperationProgress;
  reasons: { vmId: string; reason: string }[] | null;
  vms: OperationVmView[];
  events: { at: Date; type: string; detail: Record<string, unknown> | null }[];
}

const gb = (mb: number) => Math.round((mb / 1024) * 100) / 100;

/** An operation with its progress, read from the migrations it made and where its VMs are now. */
export async function operationView(manager: EntityManager, migrations: MigrationsRepository, op: MaintenanceOperationEntity): Promise<OperationView> {
  const [host] = await manager.query(`SELECT state FROM hosts WHERE id = $1`, [op.hostId]);
  const vms: { id: string; host_id: string; memory_mb: number }[] = await manager.query(
    `SELECT id, host_id, memory_mb FROM vms WHERE id = ANY($1)`,
    [op.vmIds],
  );
  const latest = await migrations.latestOfOperations(manager, [op]);
  const events = await manager.query(`SELECT at, type, detail FROM maintenance_events WHERE operation_id = $1 ORDER BY id`, [op.id]);
  const vmById = new Map(vms.map((vm) => [vm.id, vm]));
  const migrationOf = new Map(latest.map((m) => [m.vmId, m]));

  const list: OperationVmView[] = op.vmIds.map((vmId) => {
    const vm = vmById.get(vmId);
    const m = migrationOf.get(vmId);
    let status: VmEvacuationStatus;
    if (m?.state === 'succeeded') status = 'moved';
    else if (m && isUnfinished(m.state)) status = 'in-flight';
    else if (vm && vm.host_id !== op.hostId) status = 'left-otherwise';
    else if (m) status = 'failed';
    else status = 'waiting';
    return {
      vmId,
      memoryMb: vm?.memory_mb ?? 0,
      status,
      hostId: vm?.host_id ?? null,
      migrationId: m?.id ?? null,
      targetHostId: m?.targetHostId ?? null,
      error: status === 'failed' ? m!.error : null,
    };
  });

  const count = (status: VmEvacuationStatus) => list.filter((vm) => vm.status === status).length;
  const movedMb = list.filter((vm) => vm.status === 'moved' || vm.status === 'left-otherwise').reduce((sum, vm) => sum + vm.memoryMb, 0);
  const totalMb = list.reduce((sum, vm) => sum + vm.memoryMb, 0);
  const now = Date.now();
  const windowStart = Math.max(now - THROUGHPUT_WINDOW_MS, op.createdAt.getTime());
  const recentMb = list
    .filter((vm) => vm.status === 'moved' && (migrationOf.get(vm.vmId)?.finishedAt?.getTime() ?? 0) >= windowStart)
    .reduce((sum, vm) => sum + vm.memoryMb, 0);
  const elapsedS = Math.max((now - windowStart) / 1000, 1);
  const ended = op.state === 'completed' || op.state === 'cancelled';
  const throughputMbps = ended ? 0 : Math.round(((recentMb * 8) / elapsedS) * 10) / 10;
  const remainingMb = totalMb - movedMb;
  return {
    id: op.id,
    clusterId: op.clusterId,
    hostId: op.hostId,
    hostState: host?.state ?? null,
    state: op.state,
    includePoweredOff: op.includePoweredOff,
    createdAt: op.createdAt,
    deadline: op.deadline,
    finishedAt: op.finishedAt,
    exitedAt: op.exitedAt,
    returnPlanId: op.returnPlanId,
    progress: {
      vmsTotal: list.length,
      vmsMoved: count('moved') + count('left-otherwise'),
      vmsInFlight: count('in-flight'),
      vmsFailed: count('failed'),
      vmsRemaining: list.length - count('moved') - count('left-otherwise'),
      gbTotal: gb(totalMb),
      gbMoved: gb(movedMb),
      throughputMbps,
      etaSeconds: remainingMb === 0 ? 0 : throughputMbps > 0 ? Math.round((remainingMb * 8) / throughputMbps) : null,
    },
    reasons: op.reasons,
    vms: list,
    events,
  };
}
