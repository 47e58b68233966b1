import type { MigrationResult, VmLocation } from '../migration-engine.js';
import { announce, type EngineContext, figuresFrom, NIC_PATH } from './engine-context.js';
import { ACTIVE_MIGRATION_STATUSES, type GuestProbe, type LabVm } from './qemu-lab.js';
import { abandonOwner, lockHolder, newOwner, readLockInfo, VmLock } from './vm-lock.js';

/**
 * Where a VM really is, and putting in order what an owner that died left: the ground truth a
 * restarted worker asks for before it finishes or repeats a migration's record.
 */
export class Recovery {
  constructor(private readonly context: EngineContext) {}

  async locate(vmId: string): Promise<VmLocation> {
    const vm = await this.context.lab.vm(vmId);
    let probes = (await this.context.lab.inspect(vmId)).filter((p) => p.alive);
    if (!vm && probes.length === 0) return { hostId: null, running: false, migrating: false };
    const holder = await lockHolder(this.context.lab.vmLockFile(vmId));
    if (!holder && needsSettling(vm, probes)) {
      // Nobody is in charge of the VM and QEMU left more than one copy (or a stale definition):
      // clean up under the VM's lock, so as not to race a migration starting now.
      const deadOwnersMigration = (await readLockInfo(this.context.lab.vmLockFile(vmId)))?.migrationId;
      const owner = await newOwner();
      const lock = await VmLock.acquire(this.context.lab.vmLockFile(vmId), owner, 'reconcile');
      if (lock instanceof VmLock) {
        try {
          probes = await this.settle(vmId, deadOwnersMigration);
        } finally {
          await lock.release();
          abandonOwner(owner);
        }
      }
    }
    const migrating = holder?.purpose === 'migration' || probes.some((p) => p.blockJobs.length > 0);
    const sending = probes.find((p) => ACTIVE_MIGRATION_STATUSES.has(p.migrationStatus ?? ''));
    const running = probes.filter((p) => p.status === 'running');
    // Two running copies are never the engine's doing (the target only runs once the source has
    // stopped); report the host the lab last knew and leave both for an operator.
    const current = sending ?? running.find((p) => p.instance.hostId === vm?.hostId) ?? running[0];
    const datastoreId = (current?.diskFile ? this.context.lab.datastoreOf(current.diskFile) : null) ?? vm?.datastoreId ?? undefined;
    if (current) return { hostId: current.instance.hostId, running: true, migrating: migrating || sending !== undefined, datastoreId };
    const stopped = probes.find((p) => p.status !== 'inmigrate');
    return { hostId: stopped?.instance.hostId ?? vm?.hostId ?? null, running: false, migrating, datastoreId };
  }

  /**
   * Puts a VM nobody is in charge of back in order and returns its live instances. After an owner
   * that died past the switchover: the VM runs on the target, the source waits in `postmigrate`;
   * tell the network, complete the dead owner's record with QEMU's figures, stop the source. A
   * destination still waiting for a migration nobody sends is stopped. The definition follows
   * what runs (host, disk).
   */
  private async settle(vmId: string, deadOwnersMigration: string | undefined): Promise<GuestProbe[]> {
    const vm = await this.context.lab.vm(vmId);
    const probes = (await this.context.lab.inspect(vmId)).filter((p) => p.alive);
    if (probes.some((p) => ACTIVE_MIGRATION_STATUSES.has(p.migrationStatus ?? ''))) return probes;
    const running = probes.filter((p) => p.status === 'running');
    if (running.length > 1) return probes;
    const [current] = running;
    const leftovers = current ? probes.filter((p) => p !== current) : probes.filter((p) => p.status === 'inmigrate');
    const completedSource = current && leftovers.find((p) => p.status === 'postmigrate');
    if (completedSource) await this.completeOrphanedMigration(vm, current, completedSource, deadOwnersMigration);
    for (const leftover of leftovers) await this.context.lab.removeInstance(leftover.instance);
    if (vm && current) {
      const diskPath = current.diskFile ?? vm.diskPath;
      const datastoreId = diskPath ? (this.context.lab.datastoreOf(diskPath) ?? vm.datastoreId) : vm.datastoreId;
      if (vm.hostId !== current.instance.hostId || !vm.running || vm.diskPath !== diskPath) {
        await this.context.lab.saveVm({ ...vm, hostId: current.instance.hostId, running: true, diskPath, datastoreId });
      }
    }
    return probes.filter((p) => !leftovers.includes(p));
  }

  private async completeOrphanedMigration(vm: LabVm | null, current: GuestProbe, source: GuestProbe, migrationId: string | undefined): Promise<void> {
    const figures = await figuresFrom(this.context.lab, source.instance);
    const networkNotified = await this.context.lab.withProbe(current.instance, announce).catch(() => false);
    const record = migrationId ? await this.context.records.get(migrationId) : null;
    if (record?.state !== 'running' || record.targetHostId !== current.instance.hostId) return;
    const mac = await this.context.lab.withProbe(current.instance, (c) => c.execute<string>('qom-get', { path: NIC_PATH, property: 'mac' })).catch(() => null);
    const known = figures ?? record.figures;
    const result: MigrationResult = {
      hostId: current.instance.hostId,
      datastoreId: vm?.datastoreId ?? undefined,
      totalTimeMs: known?.totalTimeMs ?? 0,
      downtimeMs: known?.downtimeMs ?? 0,
      downtimeLimitMs: record.downtimeLimitMs,
      transferredBytes: known?.transferredBytes ?? 0,
      precopyIterations: known?.precopyIterations ?? 0,
      macPreserved: mac !== null && mac === (record.sourceMac ?? vm?.macAddress),
      networkNotified,
      maxThrottle: known?.maxThrottle ?? 0,
    };
    await this.context.records.save({ ...record, figures: known, state: 'completed', result });
  }
}

/** Whether QEMU left this VM in a state that settle() would change. */
function needsSettling(vm: LabVm | null, probes: GuestProbe[]): boolean {
  if (probes.some((p) => ACTIVE_MIGRATION_STATUSES.has(p.migrationStatus ?? ''))) return false;
  const running = probes.filter((p) => p.status === 'running');
  if (running.length > 1) return false;
  if (running.length === 0) return probes.some((p) => p.status === 'inmigrate');
  const [current] = running;
  return probes.length > 1 || (vm !== null && (vm.hostId !== current.instance.hostId || !vm.running || (current.diskFile !== null && vm.diskPath !== current.diskFile)));
}
