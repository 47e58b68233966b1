/** What time it is for the closed loop: tests put in a clock of their own (hold times, change windows). */
export const CLOCK = Symbol('CLOCK');

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
