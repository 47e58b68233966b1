import type { Logger } from '@nestjs/common';
import type { SchedulerRegistry } from '@nestjs/schedule';

/** Runs `task` every `ms`, skipping a tick while the previous run is still going; errors are logged. */
export function every(registry: SchedulerRegistry, logger: Logger, name: string, ms: number, task: () => Promise<void>): void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    task()
      .catch((error: Error) => logger.error(`${name}: ${error.message}`))
      .finally(() => (running = false));
  }, ms);
  registry.addInterval(name, timer);
}
