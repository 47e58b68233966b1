import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import pg from 'pg';
import { waitFor } from '../../test/support/wait.js';
import { every, stopTimedTasks } from './every.js';

class RecordingLogger extends Logger {
  readonly errors: string[] = [];
  override error(message: unknown): void {
    this.errors.push(String(message));
  }
}

const DATABASE_URL = new URL(process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/ballast');
DATABASE_URL.pathname = '/postgres';

describe('every', () => {
  const registry = new SchedulerRegistry();
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  let client: pg.Client;

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    client = new pg.Client({ connectionString: DATABASE_URL.toString() });
    await client.connect();
  });

  afterEach(() => {
    for (const name of registry.getIntervals()) registry.deleteInterval(name);
    for (const name of registry.getTimeouts()) registry.deleteTimeout(name);
  });

  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await client.end();
  });

  it('logs a first run whose PostgreSQL read fails, and runs again on the next tick', async () => {
    const logger = new RecordingLogger();
    let runs = 0;
    every(registry, logger, 'failing', 50, async () => {
      runs += 1;
      await client.query('SELECT * FROM no_such_table_for_every');
    }, { afterMs: 0 });
    await waitFor(async () => logger.errors.length >= 3, 20000, 'three failed runs');
    expect(logger.errors[0]).toBe('failing: relation "no_such_table_for_every" does not exist');
    expect(runs).toBeGreaterThanOrEqual(3);
    expect(unhandled).toEqual([]);
  });

  it('logs a task that throws before its first await, and a first task of its own', async () => {
    const logger = new RecordingLogger();
    const ran: string[] = [];
    const throwing = (() => {
      ran.push('tick');
      throw new Error('thrown at once');
    }) as unknown as () => Promise<void>;
    every(registry, logger, 'throwing', 50, throwing, {
      afterMs: 0,
      task: async () => {
        ran.push('first');
        throw new Error('first failed');
      },
    });
    await waitFor(async () => logger.errors.length >= 2, 20000, 'the first run and a tick to fail');
    expect(ran[0]).toBe('first');
    expect(logger.errors.slice(0, 2)).toEqual(['throwing: first failed', 'throwing: thrown at once']);
    expect(unhandled).toEqual([]);
  });

  it('counts the interval from the first run: the second run is a whole interval after it', async () => {
    const at: number[] = [];
    every(registry, new RecordingLogger(), 'spaced', 300, async () => void at.push(performance.now()), { afterMs: 200 });
    const started = performance.now();
    await waitFor(async () => at.length >= 2, 20000, 'two runs');
    expect(at[0] - started).toBeGreaterThanOrEqual(195);
    // Timers never fire early: counted from the start, the second run would have come 100 ms after the first.
    expect(at[1] - at[0]).toBeGreaterThanOrEqual(295);
  });

  it('never runs a task twice at once', async () => {
    const logger = new RecordingLogger();
    let concurrent = 0;
    let most = 0;
    let runs = 0;
    every(registry, logger, 'slow', 10, async () => {
      concurrent += 1;
      most = Math.max(most, concurrent);
      await client.query('SELECT pg_sleep(0.1)');
      concurrent -= 1;
      runs += 1;
    }, { afterMs: 0 });
    await waitFor(async () => runs >= 3, 20000, 'three runs');
    expect(most).toBe(1);
    expect(logger.errors).toEqual([]);
  });

  it('at shutdown, starts no run again and lets the one under way finish its PostgreSQL work first', async () => {
    const logger = new RecordingLogger();
    let started = 0;
    let finished = 0;
    every(registry, logger, 'collecting', 20, async () => {
      started += 1;
      await client.query('SELECT pg_sleep(0.3)');
      finished += 1;
    }, { afterMs: 0 });
    await waitFor(async () => started >= 1, 20000, 'a run to start');
    await stopTimedTasks(registry);
    // The run under way ended before stopTimedTasks answered: the database may close now.
    expect(finished).toBe(started);
    expect(registry.getIntervals()).toEqual([]);
    const after = started;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(started).toBe(after);
    expect(logger.errors).toEqual([]);
  });
});
