import { type BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { stopTimedTasks } from './every.js';

/** Stops the application's timed tasks (src/scheduler/every.ts) before anything they use closes. */
@Injectable()
export class TimedTasksShutdown implements BeforeApplicationShutdown {
  constructor(private readonly registry: SchedulerRegistry) {}

  beforeApplicationShutdown(): Promise<void> {
    return stopTimedTasks(this.registry);
  }
}
