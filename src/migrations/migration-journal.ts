import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { type MigrationEvent, type Transition, writeTransitions } from './transitions.js';

type Entry =
  | { kind: 'transition'; value: Transition; resolve: (applied: boolean) => void; reject: (e: unknown) => void }
  | { kind: 'event'; value: MigrationEvent; resolve: (applied: boolean) => void; reject: (e: unknown) => void };

const MAX_BATCH = 500;
const MAX_PARALLEL_FLUSHES = 2;

/**
 * Group commit for the history: the concurrent migrations of a process hand in their transitions
 * and events, and each flush writes a whole batch in one statement (one transaction), so that
 * thousands of migrations a second keep a complete history without a transaction each.
 * Every caller still waits until its own write is durable.
 */
@Injectable()
export class MigrationJournal {
  private readonly entries: Entry[] = [];
  private flushing = 0;
  private scheduled = false;

  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /** Resolves true when applied, false when the migration was no longer in a `from` state. */
  transition(value: Transition): Promise<boolean> {
    return new Promise((resolve, reject) => this.push({ kind: 'transition', value, resolve, reject }));
  }

  async record(value: MigrationEvent): Promise<void> {
    await new Promise<boolean>((resolve, reject) => this.push({ kind: 'event', value, resolve, reject }));
  }

  private push(entry: Entry): void {
    this.entries.push(entry);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.flushing >= MAX_PARALLEL_FLUSHES || this.entries.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const batch = this.takeBatch();
    if (batch.length === 0) return;
    this.flushing += 1;
    try {
      const transitions = batch.filter((e) => e.kind === 'transition');
      const events = batch.filter((e) => e.kind === 'event');
      const applied = await writeTransitions(
        this.db.manager,
        transitions.map((e) => e.value as Transition),
        events.map((e) => e.value as MigrationEvent),
      );
      transitions.forEach((entry, i) => entry.resolve(applied.has(i)));
      events.forEach((entry) => entry.resolve(true));
    } catch (error) {
      batch.forEach((entry) => entry.reject(error));
    } finally {
      this.flushing -= 1;
      this.schedule();
    }
  }

  /**
   * At most one transition per migration in a batch (one statement cannot change a row twice);
   * once an entry of a migration waits for the next batch, so do its later ones, to keep their order.
   */
  private takeBatch(): Entry[] {
    const batch: Entry[] = [];
    const rest: Entry[] = [];
    const transitioning = new Set<string>();
    const deferred = new Set<string>();
    for (const entry of this.entries) {
      const id = entry.value.migrationId;
      if (batch.length >= MAX_BATCH || deferred.has(id) || (entry.kind === 'transition' && transitioning.has(id))) {
        deferred.add(id);
        rest.push(entry);
        continue;
      }
      if (entry.kind === 'transition') transitioning.add(id);
      batch.push(entry);
    }
    this.entries.splice(0, this.entries.length, ...rest);
    return batch;
  }
}
