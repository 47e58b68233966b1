import type { Logger } from '@nestjs/common';
import type { SchedulerRegistry } from '@nestjs/schedule';

/** A first run sooner than the interval (at start), with a task of its own if it differs. */
export interface FirstRun {
  afterMs: number;
  task?: () => Promise<unknown>;
}

/** The runs under way of each application's timed tasks (one registry per application). */
const runsUnderWay = new WeakMap<SchedulerRegistry, Set<Promise<unknown>>>();

/** How long shutdown waits for a timed task under way before closing what it uses. */
export const SHUTDOWN_WAIT_MS = 10_000;

/**
 * Runs `task` every `ms` (from a first run `first.afterMs` after start, if given), skipping a run while the
 * previous one is still going. A failure, even one thrown before the task's first await, is logged
 * and the task runs again on the next tick: nothing a timer starts may end the process.
 */
export function every(
  registry: SchedulerRegistry,
  logger: Logger,
  name: string,
  ms: number,
  task: () => Promise<unknown>,
  first?: FirstRun,
): void {
  let running = false;
  let underWay = runsUnderWay.get(registry);
  if (!underWay) runsUnderWay.set(registry, (underWay = new Set()));
  const runs = underWay;
  const run = (body: () => Promise<unknown>) => {
    if (running) return;
    running = true;
    const current: Promise<unknown> = Promise.resolve()
      .then(body)
      .catch((error: Error) => logger.error(`${name}: ${error?.message ?? String(error)}`))
      .finally(() => {
        running = false;
        runs.delete(current);
      });
    runs.add(current);
  };
  const start = () => registry.addInterval(name, setInterval(() => run(task), ms));
  if (!first) return start();
  // The interval counts from the first run: counted from the start, the next run came closer than
  // `ms` after the first (the collector then skipped it as too recent, and a pushed sample waited
  // two intervals to be smoothed).
  registry.addTimeout(
    `${name}-first`,
    setTimeout(() => {
      run(first.task ?? task);
      start();
    }, first.afterMs),
  );
}

/**
 * At shutdown, before the database and Redis close: no timed task starts again, and the runs under
 * way may finish (up to `waitMs`), so that a collection or evaluation is not cut off half-way and
 * logged as failing with "Connection terminated".
 */
export async function stopTimedTasks(registry: SchedulerRegistry, waitMs = SHUTDOWN_WAIT_MS): Promise<void> {
  for (const name of registry.getIntervals()) registry.deleteInterval(name);
  for (const name of registry.getTimeouts()) registry.deleteTimeout(name);
  const runs = [...(runsUnderWay.get(registry) ?? [])];
  if (runs.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.allSettled(runs), new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
  clearTimeout(timer);
}
