import type { MigrationProgress } from '../engine/migration-engine.js';
import type { MigrationEvent } from './transitions.js';

/** A milestone and the moment the worker saw it. */
export type Milestone = MigrationProgress & { at: string };

/** At most one progress row per migration this often; a row carries every milestone since the last. */
export const PROGRESS_ROW_EVERY_MS = 250;

export interface Clock {
  now(): number;
  later(ms: number, then: () => void): () => void;
}

const realClock: Clock = {
  now: Date.now,
  later(ms, then) {
    const timer = setTimeout(then, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/**
 * Turns an engine's progress callbacks into history rows: every milestone is kept, with its time,
 * but milestones that come faster than one row per PROGRESS_ROW_EVERY_MS share a row (a migration
 * that takes milliseconds writes one), written at most that long after the first of them. A row's
 * detail is the latest milestone, plus `milestones` when it carries several. Within a row, a later
 * figure of the same phase and pass replaces the earlier one (engines report bytes as they move).
 */
export class ProgressLog {
  private waiting: Milestone[] = [];
  /** Set in the constructor: the first row, too, gathers what came in its first 250 ms. */
  private lastRowAt: number;
  private cancelTimer: (() => void) | null = null;
  private readonly written: Promise<void>[] = [];

  constructor(
    private readonly migrationId: string,
    private readonly write: (event: MigrationEvent) => Promise<void>,
    private readonly clock: Clock = realClock,
  ) {
    this.lastRowAt = clock.now();
  }

  add(progress: MigrationProgress): void {
    const milestone = { ...progress, at: new Date(this.clock.now()).toISOString() };
    // Figures of the same pass that come before the row is written: the later one says it all.
    const last = this.waiting.at(-1);
    if (last && last.phase === progress.phase && last.iteration === progress.iteration) this.waiting[this.waiting.length - 1] = milestone;
    else this.waiting.push(milestone);
    const due = this.lastRowAt + PROGRESS_ROW_EVERY_MS - this.clock.now();
    if (due <= 0) this.flush();
    else this.cancelTimer ??= this.clock.later(due, () => this.flush());
  }

  /** Hands over what waits: the journal writes it before the migration's next transition. */
  end(): void {
    this.flush();
  }

  /** Resolves once every row handed over is written (or failed to be). */
  async settled(): Promise<void> {
    await Promise.allSettled(this.written);
  }

  private flush(): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
    if (this.waiting.length === 0) return;
    const milestones = this.waiting;
    this.waiting = [];
    this.lastRowAt = this.clock.now();
    const latest = milestones[milestones.length - 1];
    const detail = milestones.length > 1 ? { ...latest, milestones } : { ...latest };
    this.written.push(this.write({ migrationId: this.migrationId, type: 'progress', detail }));
  }
}
