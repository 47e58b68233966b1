import { WEEKDAYS, type ChangeWindows } from '../planner/snapshot.js';

/**
 * Weekly change windows in an explicit time zone, pure (the caller passes the time; the zone's
 * rules come from the ICU data Node carries). Outside a window only evacuation, rule repair and HA
 * run; balancing waits.
 */
export interface WindowState {
  /** True without windows: balancing may run at any time. */
  open: boolean;
  timeZone: string | null;
  /** The open window's end, or the next window's start and end (ms since the epoch). */
  current: { start: number; end: number } | null;
  next: { start: number; end: number } | null;
}

const WEEK_MINUTES = 7 * 1440;
const MINUTE = 60_000;

const formats = new Map<string, Intl.DateTimeFormat>();

/** Minutes since Monday 00:00 local time, and the zone's offset from UTC in minutes, at `at`. */
function localWeekMinute(timeZone: string, at: number): { minute: number; offsetMinutes: number } {
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      weekday: 'short',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    });
    formats.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(new Date(at)).map((p) => [p.type, p.value]));
  const day = WEEKDAYS.indexOf(parts.weekday.toLowerCase().slice(0, 3) as (typeof WEEKDAYS)[number]);
  const hour = Number(parts.hour);
  const minuteOfHour = Number(parts.minute);
  const localAsUtc = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), hour, minuteOfHour);
  const offsetMinutes = Math.round((localAsUtc - Math.floor(at / MINUTE) * MINUTE) / MINUTE);
  return { minute: day * 1440 + hour * 60 + minuteOfHour, offsetMinutes };
}

const hhmm = (text: string) => Number(text.slice(0, 2)) * 60 + Number(text.slice(3, 5));

/** Every window as [start, length) in minutes of the local week. */
function spans(cw: ChangeWindows): { start: number; length: number }[] {
  const out: { start: number; length: number }[] = [];
  for (const w of cw.windows) {
    const start = hhmm(w.start);
    const end = hhmm(w.end);
    const length = end > start ? end - start : end + 1440 - start;
    for (const day of w.days) out.push({ start: WEEKDAYS.indexOf(day) * 1440 + start, length });
  }
  return out;
}

export function windowState(cw: ChangeWindows | undefined, now: number): WindowState {
  if (cw === undefined) return { open: true, timeZone: null, current: null, next: null };
  const { minute } = localWeekMinute(cw.timeZone, now);
  const startOfMinute = Math.floor(now / MINUTE) * MINUTE;
  // A wall-clock distance in local minutes, turned into real time by the zone's offset on each side
  // (a window across a DST change is longer or shorter by the change, as the wall clock says).
  const atLocalDistance = (delta: number) => {
    const guess = startOfMinute + delta * MINUTE;
    const shift = localWeekMinute(cw.timeZone, now).offsetMinutes - localWeekMinute(cw.timeZone, guess).offsetMinutes;
    return guess + shift * MINUTE;
  };
  let current: WindowState['current'] = null;
  let nextDelta = Infinity;
  let nextLength = 0;
  for (const s of spans(cw)) {
    const sinceStart = (((minute - s.start) % WEEK_MINUTES) + WEEK_MINUTES) % WEEK_MINUTES;
    if (sinceStart < s.length) {
      const end = atLocalDistance(s.length - sinceStart);
      if (current === null || end > current.end) current = { start: atLocalDistance(-sinceStart), end };
    }
    const untilStart = WEEK_MINUTES - sinceStart;
    if (untilStart < nextDelta) {
      nextDelta = untilStart;
      nextLength = s.length;
    }
  }
  const next = { start: atLocalDistance(nextDelta), end: atLocalDistance(nextDelta + nextLength) };
  return { open: current !== null, timeZone: cw.timeZone, current, next };
}
