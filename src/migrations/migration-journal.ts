import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { type Applied, type JournalEntry, type MigrationEvent, type Transition, writeJournal } from './transitions.js';

interface Entry {
  value: JournalEntry;
  resolve: (applied: Applied | null) => void;
  reject: (e: unknown) => void;
}

const MAX_BATCH = 500;
const MAX_PARALLEL_FLUSHES = 2;

/**
 * Group commit for the history: the concurrent migrations of a process hand in their transitions
 * and events, and each flush writes a whole batch in one statement (one transaction), so that
 * thousands of migrations a second keep a complete history without a transaction each.
 * A transition's caller waits until it is durable; events (progress) need not be waited for: they
 * are written in order, with or before the migration's next transition.
 */
@Injectable()
export class MigrationJournal {
  private readonly entries: Entry[] = [];
  /** Migrations with entries in a flush under way: their later entries wait, for order and to avoid lock cycles. */
  private readonly writing = new Set<string>();
  private flushing = 0;
  private scheduled = false;

  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /** Resolves when durable: null when the migration was no longer in a `from` state. */
  transition(value: Transition): Promise<Applied | null> {
    return new Promise((resolve, reject) => this.push({ value: { kind: 'transition', ...value }, resolve, reject }));
  }

  async record(value: MigrationEvent): Promise<void> {
    await new Promise<Applied | null>((resolve, reject) => this.push({ value: { kind: 'event', ...value }, resolve, reject }));
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
    const ids = new Set(batch.map((entry) => entry.value.migrationId));
    ids.forEach((id) => this.writing.add(id));
    this.flushing += 1;
    try {
      const applied = await writeJournal(
        this.db.manager,
        batch.map((entry) => entry.value),
      );
      batch.forEach((entry, seq) => entry.resolve(applied.get(seq) ?? null));
    } catch (error) {
      batch.forEach((entry) => entry.reject(error));
    } finally {
      ids.forEach((id) => this.writing.delete(id));
      this.flushing -= 1;
      this.schedule();
    }
  }

  /**
   * At most one transition per migration in a batch (one statement cannot change a row twice), and
   * nothing of a migration that a flush under way is writing; once an entry of a migration waits
   * for a later batch, so do its later ones, to keep their order.
   */
  private takeBatch(): Entry[] {
    const batch: Entry[] = [];
    const rest: Entry[] = [];
    const transitioning = new Set<string>();
    const deferred = new Set<string>(this.writing);
    for (const entry of this.entries) {
      const id = entry.value.migrationId;
      if (batch.length >= MAX_BATCH || deferred.has(id) || (entry.value.kind === 'transition' && transitioning.has(id))) {
        deferred.add(id);
        rest.push(entry);
        continue;
      }
      if (entry.value.kind === 'transition') transitioning.add(id);
      batch.push(entry);
    }
    this.entries.splice(0, this.entries.length, ...rest);
    return batch;
  }
}
