import { BadRequestException, ConflictException, NotFoundException } from '@nestjs/common';
import { SnapshotError } from '../planner/validate-snapshot.js';

/** 400 with the field and the reason, in one shape for every endpoint. */
export function badRequest(field: string, reason: string): BadRequestException {
  return new BadRequestException({
    statusCode: 400,
    error: 'Bad Request',
    message: `${field}: ${reason}`,
    errors: [{ field, reason }],
  });
}

/** 400 naming every bad field at once (for batches: all of a request's problems in one answer). */
export function badRequestAll(errors: { field: string; reason: string }[]): BadRequestException {
  const shown = errors.slice(0, 3).map((e) => `${e.field}: ${e.reason}`).join('; ');
  const more = errors.length > 3 ? `; and ${errors.length - 3} more` : '';
  return new BadRequestException({ statusCode: 400, error: 'Bad Request', message: `${shown}${more}`, errors });
}

export function fromSnapshotError(error: SnapshotError): BadRequestException {
  return badRequest(error.field, error.reason);
}

export function notFound(kind: string, id: string): NotFoundException {
  return new NotFoundException({ statusCode: 404, error: 'Not Found', message: `${kind} "${id}" does not exist` });
}

export function conflict(message: string, details?: Record<string, unknown>): ConflictException {
  return new ConflictException({ statusCode: 409, error: 'Conflict', message, ...details });
}
