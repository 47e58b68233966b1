import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { Logger } from '@nestjs/common';
import { currentLogFields, withLogFields } from './log-context.js';
import { routeLogFields } from './route-ids.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives each request an id (the caller's `X-Request-Id` when it is a plain token, else a new one),
 * answers it in the same header, runs the request with it in every log line, and logs the request
 * when it ends: at debug level, or as an error for a 5xx answer. The line names the caller's key by
 * its id (set by the access guard; the key itself never) and the cluster, plan, migration, host or
 * VM of the route. The query string is left out: it is the caller's, and may carry what a log should not.
 */
export function requestLogMiddleware() {
  const logger = new Logger('HTTP');
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = req.header('x-request-id');
    const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    withLogFields({ requestId }, () => {
      // This request's own fields, which the guard adds the key to: 'finish' may fire in another async flow.
      const fields = currentLogFields();
      res.on('finish', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        const route = (req.route as { path?: unknown } | undefined)?.path;
        const ids = routeLogFields(typeof route === 'string' ? route : undefined, req.params);
        const line = { ...fields, ...ids, requestId, method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 10) / 10 };
        if (res.statusCode >= 500) logger.error({ msg: 'request failed', ...line });
        else logger.debug({ msg: 'request', ...line });
      });
      next();
    });
  };
}
