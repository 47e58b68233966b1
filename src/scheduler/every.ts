import type { Logger } from '@nestjs/common';
import type { SchedulerRegistry } from '@nestjs/schedule';

/** A first run sooner than the interval (at start), with a task of its own if it differs. */
export interface FirstRun {
  afterMs: number;
  task?: () => Promise<unknown>;
}

/**
 * Runs `task` every `ms` (and once `first.afterMs` after start, if given), skipping a run while the
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
  const run = (body: () => Promise<unknown>) => {
    if (running) return;
    running = true;
    Promise.resolve()
      .then(body)
      .catch((error: Error) => logger.error(`${name}: ${error?.message ?? String(error)}`))
      .finally(() => (running = false));
  };
  registry.addInterval(name, setInterval(() => run(task), ms));
  if (first) registry.addTimeout(`${name}-first`, setTimeout(() => run(first.task ?? task), first.afterMs));
}
