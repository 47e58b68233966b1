import { ApiPropertyOptional } from '@nestjs/swagger';
import { badRequest } from '../common/http-errors.js';
import { LIMITS, timeOutOfRange } from '../planner/limits.js';

/** A time range and step of a series request (`?from&to&step`). */
export interface SeriesRange {
  from: number;
  to: number;
  stepSeconds: number;
}

/** The query of a series endpoint, for the OpenAPI document. */
export class SeriesQuery {
  @ApiPropertyOptional({ description: 'ISO-8601; default: an hour before `to`' }) from?: string;
  @ApiPropertyOptional({ description: 'ISO-8601; default: now' }) to?: string;
  @ApiPropertyOptional({ description: 'Seconds, or 30s / 5m / 1h / 1d; default: the finest giving at most 1,000 points' }) step?: string;
}

export const MAX_POINTS = 10_000;
const DEFAULT_SPAN_MS = 3_600_000;
/** Steps chosen when none is asked for: the finest that gives at most 1,000 points. */
const DEFAULT_STEPS = [20, 60, 300, 900, 3600, 21_600, 86_400];
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
export const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function time(raw: string | undefined, field: string, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const ms = Date.parse(raw);
  if (!ISO_8601.test(raw) || !Number.isFinite(ms)) throw badRequest(field, `must be an ISO-8601 time with its zone, got "${raw}"`);
  const outOfRange = timeOutOfRange(ms);
  if (outOfRange) throw badRequest(field, `${outOfRange}, got "${raw}"`);
  return ms;
}

/** `from` (default: an hour before `to`), `to` (default: now) and `step` (seconds, or with a unit: 30s, 5m, 1h, 1d). */
export function parseSeriesRange(query: { from?: string; to?: string; step?: string }, now: number): SeriesRange {
  const to = time(query.to, 'query.to', now);
  const from = time(query.from, 'query.from', to - DEFAULT_SPAN_MS);
  if (from >= to) throw badRequest('query.from', `must be before to (${new Date(to).toISOString()}), got ${new Date(from).toISOString()}`);
  const spanSeconds = (to - from) / 1000;
  let stepSeconds: number;
  if (query.step === undefined || query.step === '') {
    stepSeconds = DEFAULT_STEPS.find((s) => spanSeconds / s <= 1000) ?? Math.ceil(spanSeconds / 1000);
  } else {
    const match = /^(\d+)([smhd]?)$/.exec(query.step);
    stepSeconds = match ? Number(match[1]) * UNIT_SECONDS[match[2] || 's'] : NaN;
    if (!(stepSeconds >= 1 && stepSeconds <= LIMITS.seriesStepSeconds)) {
      throw badRequest('query.step', `must be a whole number of seconds from 1 to ${LIMITS.seriesStepSeconds} (366 days), or one with a unit (30s, 5m, 1h, 1d), got "${query.step.slice(0, 40)}"`);
    }
    if (spanSeconds / stepSeconds > MAX_POINTS) {
      throw badRequest('query.step', `gives ${Math.ceil(spanSeconds / stepSeconds)} points from ${new Date(from).toISOString()} to ${new Date(to).toISOString()}; at most ${MAX_POINTS}: take a step of at least ${Math.ceil(spanSeconds / MAX_POINTS)} s`);
    }
  }
  return { from, to, stepSeconds };
}
