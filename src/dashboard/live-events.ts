import { Injectable } from '@nestjs/common';
import { type LiveMigrationRow, MigrationsRepository } from '../migrations/migrations.repository.js';

const SHOWN = 500;

export interface LiveMigration {
  id: string;
  clusterId: string;
  planId: string | null;
  kind: string;
  vmId: string;
  sourceHostId: string;
  targetHostId: string;
  state: string;
  reason: string;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  progress: LiveMigrationRow['progress'];
  predictedMs: number | null;
  totalTimeMs: number | null;
  downtimeMs: number | null;
  predictedDowntimeMs: number | null;
  error: string | null;
}

/** One frame of the live view: what is in flight now, and what ended since the previous frame. */
export interface LiveFrame {
  at: Date;
  inFlight: LiveMigration[];
  ended: LiveMigration[];
}

function live(row: LiveMigrationRow): LiveMigration {
  const figure = (o: Record<string, unknown> | null, key: string) => (o && typeof o[key] === 'number' ? (o[key] as number) : null);
  return {
    id: row.id,
    clusterId: row.cluster_id,
    planId: row.plan_id,
    kind: row.kind,
    vmId: row.vm_id,
    sourceHostId: row.source_host_id,
    targetHostId: row.target_host_id,
    state: row.state,
    reason: row.reason,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    progress: row.progress,
    predictedMs: figure(row.prediction, 'totalTimeMs'),
    predictedDowntimeMs: figure(row.prediction, 'downtimeMs'),
    totalTimeMs: figure(row.result, 'totalTimeMs'),
    downtimeMs: figure(row.result, 'downtimeMs'),
    error: row.error,
  };
}

/** Reads the frames of the live view from PostgreSQL (every API process sees the same). */
@Injectable()
export class LiveEvents {
  constructor(private readonly migrations: MigrationsRepository) {}

  async frame(clusterId: string | null, endedAfter: Date): Promise<LiveFrame> {
    const at = new Date();
    const [inFlight, ended] = await Promise.all([
      this.migrations.unfinishedWithProgress(clusterId, SHOWN),
      this.migrations.endedSince(clusterId, endedAfter, SHOWN),
    ]);
    return { at, inFlight: inFlight.map(live), ended: ended.map(live) };
  }
}
