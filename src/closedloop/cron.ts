/**
 * The next time (UTC, whole minutes) a five-field cron expression (minute hour day-of-month month
 * day-of-week; `*`, lists, ranges and steps) matches after `after`, pure. Searches at most a year
 * ahead; null when nothing matches (for example the 31st of February).
 */
const FIELDS = [
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  { min: 1, max: 12 },
  { min: 0, max: 7 },
] as const;

function parseField(text: string, { min, max }: { min: number; max: number }): Set<number> {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    let lo = min;
    let hi = max;
    if (range !== '*') {
      const [a, b] = range.split('-').map(Number);
      lo = a;
      hi = b === undefined ? (stepText === undefined ? a : max) : b;
    }
    if (![lo, hi, step].every(Number.isInteger) || lo < min || hi > max || lo > hi || step < 1) throw new RangeError(`bad cron field "${text}"`);
    for (let v = lo; v <= hi; v += step) values.add(v);
  }
  return values;
}

export function nextCronTime(expression: string, after: number): number | null {
  const [minutes, hours, days, months, weekdays] = expression.trim().split(/\s+/).map((f, i) => parseField(f, FIELDS[i]));
  if (weekdays.has(7)) weekdays.add(0);
  const dayRestricted = expression.trim().split(/\s+/)[2] !== '*';
  const weekdayRestricted = expression.trim().split(/\s+/)[4] !== '*';
  let t = Math.floor(after / 60_000) * 60_000 + 60_000;
  const limit = after + 366 * 86_400_000;
  while (t <= limit) {
    const d = new Date(t);
    if (!months.has(d.getUTCMonth() + 1)) {
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
      continue;
    }
    // As in cron: with both day fields restricted, either one matching is enough.
    const dayOk =
      dayRestricted && weekdayRestricted ? days.has(d.getUTCDate()) || weekdays.has(d.getUTCDay()) : days.has(d.getUTCDate()) && weekdays.has(d.getUTCDay());
    if (!dayOk) {
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
      continue;
    }
    if (!hours.has(d.getUTCHours())) {
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours() + 1);
      continue;
    }
    if (minutes.has(d.getUTCMinutes())) return t;
    t += 60_000;
  }
  return null;
}
