import { join } from 'node:path';
import type { MigrationKind, MigrationResult, RestartResult } from '../migration-engine.js';
import { fileNameFor, readJson, writeJsonAtomic } from './files.js';
import type { LockOwner } from './vm-lock.js';

/** QEMU's own account of a finished live migration (from `query-migrate`). */
export interface QemuFigures {
  totalTimeMs: number;
  downtimeMs: number;
  transferredBytes: number;
  precopyIterations: number;
  maxThrottle: number;
}

/**
 * What the engine knows of one migration, kept in `migrations/<id>.json` so that a repeated call
 * for the same migration, or another process after a crash, can tell what already happened.
 */
export interface MigrationRecord {
  migrationId: string;
  vmId: string;
  /** `restart`: an HA restart (the guest booted on the target from its disk). */
  kind: MigrationKind | 'restart';
  sourceHostId: string;
  targetHostId: string;
  sourceDatastoreId?: string;
  targetDatastoreId?: string;
  state: 'running' | 'completed' | 'failed' | 'cancelled';
  owner: LockOwner;
  startedAt: string;
  updatedAt: string;
  /** QEMU's downtime-limit for this migration, as QEMU reported it back. */
  downtimeLimitMs?: number;
  /** The MAC the guest had on the source, read over QMP before the move. */
  sourceMac?: string;
  /** Set once QEMU reported the migration completed (before the engine's own checks and cleanup). */
  figures?: QemuFigures;
  result?: MigrationResult;
  restartResult?: RestartResult;
  error?: string;
}

export class MigrationRecords {
  constructor(private readonly dir: string) {}

  private file(migrationId: string): string {
    return join(this.dir, `${fileNameFor(migrationId)}.json`);
  }

  get(migrationId: string): Promise<MigrationRecord | null> {
    return readJson<MigrationRecord>(this.file(migrationId));
  }

  async save(record: MigrationRecord): Promise<MigrationRecord> {
    const saved = { ...record, updatedAt: new Date().toISOString() };
    await writeJsonAtomic(this.file(record.migrationId), saved);
    return saved;
  }
}
