import type { MaintenanceOperationEntity } from './maintenance.entity.js';
import { type OperationFacts, type OperationMigrationFacts, operationView } from './operation-view.js';

const MIB = 1024 * 1024;
const T0 = new Date('2026-12-01T10:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

function operation(over: Partial<MaintenanceOperationEntity> = {}): MaintenanceOperationEntity {
  return {
    id: 'op-1',
    clusterId: 'c',
    hostId: 'h1',
    state: 'evacuating',
    includePoweredOff: false,
    timeoutSeconds: 1800,
    deadline: at(1800),
    vmIds: ['a', 'b', 'c', 'd'],
    reasons: null,
    createdAt: T0,
    finishedAt: null,
    exitedAt: null,
    returnPlanId: null,
    requestedByKeyId: null,
    ...over,
  };
}

function migration(vmId: string, over: Partial<OperationMigrationFacts>): OperationMigrationFacts {
  return {
    id: `m-${vmId}`,
    vmId,
    state: 'running',
    targetHostId: 'h2',
    error: null,
    createdAt: T0,
    finishedAt: null,
    transferredBytes: null,
    remainingBytes: null,
    transferredAtWindowStart: null,
    ...over,
  };
}

/** Four 8 GiB VMs on h1, behind a 10 Gb/s link. */
function facts(over: Partial<OperationFacts>): OperationFacts {
  return {
    observedAt: at(60),
    hostState: 'entering-maintenance',
    hostLinkMbps: 10_000,
    vms: ['a', 'b', 'c', 'd'].map((id) => ({ id, hostId: 'h1', memoryMb: 8192 })),
    migrations: [],
    events: [],
    ...over,
  };
}

describe('operationView', () => {
  it('counts the memory already copied of a running VM, not only the VMs that finished', () => {
    const view = operationView(
      operation(),
      facts({
        migrations: [
          migration('a', { transferredBytes: 6144 * MIB, remainingBytes: 2048 * MIB, transferredAtWindowStart: 2048 * MIB }),
          migration('b', { state: 'pending' }),
        ],
      }),
    );
    expect(view.progress).toMatchObject({ vmsMoved: 0, vmsInFlight: 2, vmsRemaining: 4, gbTotal: 32, gbMoved: 6 });
    // 4096 MiB in the last 30 s: 4096 * 2^20 * 8 bits / 30 s.
    expect(view.progress.throughputMbps).toBeCloseTo((4096 * MIB * 8) / 1e6 / 30, 1);
    // 26 GiB left at that rate.
    expect(view.progress.etaSeconds).toBe(Math.round((26 * 1024 * MIB * 8) / 1e6 / view.progress.throughputMbps));
    expect(view.vms[0]).toMatchObject({ vmId: 'a', status: 'in-flight', transferredBytes: 6144 * MIB });
  });

  it('spreads a finished migration over the time it took, so a burst of endings does not read above the link', () => {
    // Four 8 GiB VMs that all finish within the window, each having sent most of its bytes before it.
    const migrations = ['a', 'b', 'c', 'd'].map((vmId) =>
      migration(vmId, { state: 'succeeded', finishedAt: at(59), transferredBytes: 8400 * MIB, transferredAtWindowStart: 8000 * MIB }),
    );
    const view = operationView(operation(), facts({ migrations, vms: ['a', 'b', 'c', 'd'].map((id) => ({ id, hostId: 'h2', memoryMb: 8192 })) }));
    expect(view.progress.throughputMbps).toBeCloseTo((4 * 400 * MIB * 8) / 1e6 / 30, 1);
    expect(view.progress).toMatchObject({ vmsMoved: 4, gbMoved: 32, etaSeconds: 0 });
  });

  it('never reports more than the host\'s migration link carries', () => {
    const view = operationView(
      operation(),
      facts({ hostLinkMbps: 1000, migrations: [migration('a', { transferredBytes: 8000 * MIB, remainingBytes: 192 * MIB, transferredAtWindowStart: 0 })] }),
    );
    expect(view.progress.throughputMbps).toBe(1000);
    expect(view.progress.etaSeconds).toBe(Math.round(((32768 - 8000) * MIB * 8) / 1e6 / 1000));
  });

  it('uses the default 10 Gb/s link when the host names none', () => {
    const view = operationView(
      operation(),
      facts({ hostLinkMbps: null, migrations: [migration('a', { transferredBytes: 60_000 * MIB, remainingBytes: 0, transferredAtWindowStart: 0 })] }),
    );
    expect(view.progress.throughputMbps).toBe(10_000);
  });

  it('measures over the operation\'s age while it is younger than the window', () => {
    const view = operationView(
      operation(),
      facts({ observedAt: at(10), migrations: [migration('a', { transferredBytes: 1000 * MIB, remainingBytes: 7192 * MIB })] }),
    );
    expect(view.progress.throughputMbps).toBeCloseTo((1000 * MIB * 8) / 1e6 / 10, 1);
  });

  it('leaves out migrations that ended before the window, and has no ETA when nothing moves', () => {
    const view = operationView(
      operation(),
      facts({
        migrations: [migration('a', { state: 'failed', error: 'target refused', finishedAt: at(20), transferredBytes: 100 * MIB, transferredAtWindowStart: 50 * MIB })],
      }),
    );
    expect(view.progress).toMatchObject({ vmsFailed: 1, throughputMbps: 0, etaSeconds: null });
    expect(view.vms[0]).toMatchObject({ status: 'failed', error: 'target refused' });
  });

  it('takes each VM\'s latest migration, and a VM gone from the host some other way counts as moved', () => {
    const view = operationView(
      operation({ vmIds: ['a', 'b'] }),
      facts({
        vms: [
          { id: 'a', hostId: 'h3', memoryMb: 8192 },
          { id: 'b', hostId: 'h3', memoryMb: 8192 },
        ],
        migrations: [
          migration('a', { id: 'old', state: 'failed', createdAt: at(1), finishedAt: at(2) }),
          migration('a', { id: 'new', state: 'succeeded', targetHostId: 'h3', createdAt: at(3), finishedAt: at(5) }),
        ],
      }),
    );
    expect(view.vms.map((v) => [v.vmId, v.status, v.migrationId])).toEqual([
      ['a', 'moved', 'new'],
      ['b', 'left-otherwise', null],
    ]);
    expect(view.progress).toMatchObject({ vmsMoved: 2, vmsRemaining: 0, etaSeconds: 0 });
  });

  it('reads no throughput once the operation ended', () => {
    const view = operationView(
      operation({ state: 'completed' }),
      facts({ migrations: [migration('a', { state: 'succeeded', finishedAt: at(59), transferredBytes: 8192 * MIB, transferredAtWindowStart: 0 })] }),
    );
    expect(view.progress.throughputMbps).toBe(0);
  });
});
