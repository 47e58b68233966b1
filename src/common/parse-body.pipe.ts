import { type PipeTransform } from '@nestjs/common';
import { SnapshotError } from '../planner/validate-snapshot.js';
import { fromSnapshotError } from './http-errors.js';

/** Runs a format parser; a SnapshotError becomes a 400 naming the field. */
export function parseOrBadRequest<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof SnapshotError) throw fromSnapshotError(error);
    throw error;
  }
}

/**
 * Validates a request body with one of the format parsers (the same rules as snapshots), so every
 * field is checked in one place.
 */
export class ParseBodyPipe<T> implements PipeTransform<unknown, T> {
  constructor(private readonly parse: (body: unknown) => T) {}

  transform(body: unknown): T {
    return parseOrBadRequest(() => this.parse(body));
  }
}
