import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { QueryFailedError } from 'typeorm';
import { PG_CHECK_VIOLATION, PG_FOREIGN_KEY_VIOLATION, PG_UNIQUE_VIOLATION, pgErrorCode } from '../database/pg-errors.js';

/**
 * The database is the last line of defence for invariants (unique ids, references, checks): when a
 * request slips past the services' own checks, say 409 / 400 rather than 500.
 */
@Catch(QueryFailedError)
export class QueryErrorFilter implements ExceptionFilter {
  catch(error: QueryFailedError, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const detail = (error.driverError as { detail?: string }).detail ?? error.message;
    const code = pgErrorCode(error);
    if (code === PG_UNIQUE_VIOLATION || code === PG_FOREIGN_KEY_VIOLATION) {
      response.status(409).json({ statusCode: 409, error: 'Conflict', message: detail });
    } else if (code === PG_CHECK_VIOLATION) {
      response.status(400).json({ statusCode: 400, error: 'Bad Request', message: detail });
    } else {
      response.status(500).json({ statusCode: 500, error: 'Internal Server Error', message: 'database error' });
      console.error(error);
    }
  }
}
