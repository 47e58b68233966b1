import { ApiPropertyOptional } from '@nestjs/swagger';
import { timeOutOfRange } from '../planner/limits.js';
import { badRequest } from './http-errors.js';

export const MAX_PAGE_SIZE = 1000;

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

export class PageQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: MAX_PAGE_SIZE, default: 100 })
  limit?: string;

  @ApiPropertyOptional({ minimum: 0, default: 0 })
  offset?: string;
}

export function wholeNumber(raw: string | undefined, field: string, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw badRequest(field, `must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw badRequest(field, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

export function pageOf(query: PageQuery): { limit: number; offset: number } {
  return {
    limit: wholeNumber(query.limit, 'limit', 100, 1, MAX_PAGE_SIZE),
    offset: wholeNumber(query.offset, 'offset', 0, 0, Number.MAX_SAFE_INTEGER),
  };
}

/** A query filter that must be one of a fixed set of values. */
export function enumFilter<T extends string>(raw: string | undefined, field: string, values: readonly T[]): T | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!(values as readonly string[]).includes(raw)) throw badRequest(field, `must be one of ${values.join(', ')}, got "${raw}"`);
  return raw as T;
}

/** An ISO 8601 date-time query filter, within the range every stored time has (src/planner/limits.ts). */
export function timestampFilter(raw: string | undefined, field: string): Date | undefined {
  if (raw === undefined || raw === '') return undefined;
  const at = new Date(raw);
  if (Number.isNaN(at.getTime())) throw badRequest(field, `must be an ISO 8601 date-time, got "${raw}"`);
  const outOfRange = timeOutOfRange(at.getTime());
  if (outOfRange) throw badRequest(field, `${outOfRange}, got "${raw}"`);
  return at;
}

/** A true/false query flag; absent is false. */
export function booleanFlag(raw: string | undefined, field: string): boolean {
  if (raw === undefined || raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  throw badRequest(field, `must be true or false, got "${raw}"`);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Plans and migrations have UUIDs: anything else names nothing (and must not reach a uuid column). */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
