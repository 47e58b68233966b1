import { MigrationEngineError, type MigrationProgress, type MigrationRequest } from '../migration-engine.js';
import type { MigrationRecords, QemuFigures } from './migration-records.js';
import type { GuestInstance, GuestProbe, LabVm, QemuLab } from './qemu-lab.js';
import { type QmpClient, QmpConnectionError } from './qmp-client.js';
import type { LockOwner } from './vm-lock.js';

/** What the compute, storage and recovery parts of the qemu engine share of it. */
export interface EngineContext {
  readonly lab: QemuLab;
  readonly records: MigrationRecords;
  /** How often QEMU is polled for progress. */
  readonly pollIntervalMs: number;
  /** A migration still not done after this is cancelled and fails for good. */
  readonly maxMigrationTimeMs: number;
  /** The engine is closed (its monitors are going away; QEMU carries on). */
  readonly closed: boolean;
  /** The control monitor of an instance, held by the run and closed with the engine. */
  control(run: Run, instance: GuestInstance): Promise<QmpClient>;
  requireVm(vmId: string): Promise<LabVm>;
}

export interface QueryMigrate {
  status?: string;
  'total-time'?: number;
  downtime?: number;
  'cpu-throttle-percentage'?: number;
  'error-desc'?: string;
  ram?: { transferred?: number; remaining?: number; 'dirty-sync-count'?: number };
}

/** A migration run: the caller's options plus an abort that also fires when progress reporting fails. */
export interface Run {
  request: MigrationRequest;
  owner: LockOwner;
  signal: AbortSignal;
  report(progress: MigrationProgress): Promise<void>;
  /** Why the run was aborted when the caller did not ask for it (a failing progress callback). */
  failure(): unknown;
  /** The monitors this run holds; closed when it ends. */
  clients: QmpClient[];
}

export const NIC_PATH = '/machine/peripheral/net0';
export const CANCEL_TIMEOUT_MS = 10_000;

export function notRunningReason(vmId: string, hostId: string, probes: GuestProbe[]): string {
  const here = probes.find((p) => p.instance.hostId === hostId);
  if (here) return `VM ${vmId} is ${here.status ?? 'not answering'} on host ${hostId}, not running`;
  const elsewhere = probes.find((p) => p.status === 'running');
  return elsewhere ? `VM ${vmId} runs on host ${elsewhere.instance.hostId}, not on ${hostId}` : `VM ${vmId} does not run on host ${hostId} (nor anywhere)`;
}

export function figuresOf(info: QueryMigrate, maxThrottle: number): QemuFigures {
  return {
    totalTimeMs: info['total-time'] ?? 0,
    downtimeMs: info.downtime ?? 0,
    transferredBytes: info.ram?.transferred ?? 0,
    precopyIterations: info.ram?.['dirty-sync-count'] ?? 0,
    maxThrottle,
  };
}

/** QEMU's figures of a completed migration, from the instance's monitor (null when it did not complete or does not answer). */
export async function figuresFrom(lab: QemuLab, instance: GuestInstance, client?: QmpClient): Promise<QemuFigures | null> {
  const ask = async (c: QmpClient) => c.execute<QueryMigrate>('query-migrate');
  try {
    const info = client && !client.closed ? await ask(client) : await lab.withProbe(instance, ask);
    return info.status === 'completed' ? figuresOf(info, 0) : null;
  } catch {
    return null;
  }
}

/** The RARP step: the guest's NIC tells the network (switches learn where its MAC now lives). */
export async function announce(client: QmpClient): Promise<boolean> {
  try {
    await client.execute('announce-self', { initial: 50, max: 550, rounds: 5, step: 100 });
    return true;
  } catch {
    return false;
  }
}

export function asEngineError(error: unknown, context: string): MigrationEngineError {
  if (error instanceof MigrationEngineError) return error;
  const transient = error instanceof QmpConnectionError;
  return new MigrationEngineError(`${context}: ${(error as Error)?.message ?? String(error)}`, transient, transient ? 'unreachable' : 'failed');
}

export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
