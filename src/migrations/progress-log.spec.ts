import { describe, expect, it } from '@jest/globals';
import type { MigrationProgress } from '../engine/migration-engine.js';
import { ProgressLog } from './progress-log.js';
import type { MigrationEvent } from './transitions.js';

const step = (phase: MigrationProgress['phase'], iteration: number): MigrationProgress => ({
  phase,
  iteration,
  transferredBytes: iteration * 1000,
  remainingBytes: 0,
});

/** A hand-driven clock: `at(ms)` moves time and fires what came due. */
function log() {
  let now = 0;
  const timers: { due: number; then: () => void }[] = [];
  const rows: MigrationEvent[] = [];
  const clock = {
    now: () => now,
    later(ms: number, then: () => void) {
      const timer = { due: now + ms, then };
      timers.push(timer);
      return () => timers.splice(timers.indexOf(timer), 1);
    },
  };
  const progress = new ProgressLog('m1', async (event) => void rows.push(event), clock);
  const at = (ms: number) => {
    now = ms;
    for (const timer of timers.filter((t) => t.due <= now)) {
      timers.splice(timers.indexOf(timer), 1);
      timer.then();
    }
  };
  return { progress, rows, at };
}

describe('progress rows', () => {
  it('writes each milestone on its own when they come slowly', async () => {
    const { progress, rows, at } = log();
    progress.add(step('setup', 0));
    at(1000);
    progress.add(step('precopy', 1));
    at(2000);
    progress.add(step('switchover', 1));
    progress.end();
    await progress.settled();
    expect(rows.map((r) => r.detail.phase)).toEqual(['setup', 'precopy', 'switchover']);
    expect(rows.every((r) => r.detail.milestones === undefined && r.migrationId === 'm1' && r.type === 'progress')).toBe(true);
  });

  it('folds fast milestones into one row that keeps each with its time', async () => {
    const { progress, rows, at } = log();
    progress.add(step('setup', 0));
    at(10);
    progress.add(step('precopy', 1));
    at(20);
    progress.add(step('precopy', 2));
    at(30);
    progress.add(step('switchover', 2));
    progress.end();
    await progress.settled();
    expect(rows).toHaveLength(1);
    expect(rows[0].detail).toMatchObject({ phase: 'switchover', iteration: 2 });
    expect((rows[0].detail.milestones as { phase: string; iteration: number; at: string }[]).map((m) => [m.phase, m.iteration, m.at])).toEqual([
      ['setup', 0, new Date(0).toISOString()],
      ['precopy', 1, new Date(10).toISOString()],
      ['precopy', 2, new Date(20).toISOString()],
      ['switchover', 2, new Date(30).toISOString()],
    ]);
  });

  it('writes held-back milestones once their time comes, without waiting for the next one', async () => {
    const { progress, rows, at } = log();
    progress.add(step('setup', 0));
    at(10);
    progress.add(step('precopy', 1));
    at(200);
    expect(rows).toEqual([]);
    at(250);
    expect(rows.map((r) => r.detail.phase)).toEqual(['precopy']);
    expect((rows[0].detail.milestones as { phase: string }[]).map((m) => m.phase)).toEqual(['setup', 'precopy']);
    at(5000);
    progress.add(step('switchover', 3));
    progress.end();
    await progress.settled();
    expect(rows.map((r) => r.detail.phase)).toEqual(['precopy', 'switchover']);
  });

  it('keeps, within a row, the latest figure of each pass: bytes reported as they move do not pile up', async () => {
    const { progress, rows, at } = log();
    progress.add(step('setup', 0));
    for (let ms = 1; ms <= 100; ms++) {
      at(ms);
      progress.add({ phase: 'precopy', iteration: 1, transferredBytes: ms * 1000, remainingBytes: (100 - ms) * 1000 });
    }
    at(120);
    progress.add(step('precopy', 2));
    progress.end();
    await progress.settled();
    expect(rows).toHaveLength(1);
    expect((rows[0].detail.milestones as MigrationProgress[]).map((m) => [m.phase, m.iteration, m.transferredBytes])).toEqual([
      ['setup', 0, 0],
      ['precopy', 1, 100_000],
      ['precopy', 2, 2000],
    ]);
  });

  it('writes nothing when nothing was reported', async () => {
    const { progress, rows } = log();
    progress.end();
    await progress.settled();
    expect(rows).toEqual([]);
  });
});
