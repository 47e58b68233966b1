import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import type { NextFunction, Response } from 'express';
import { mergeMap, type Observable } from 'rxjs';
import { answerTargets, auditedRoute, type AuditedRoute } from './audit-routes.js';
import { type AuditedRequest, AuditTrail, isAudited, type RequestAudit, routeOf } from './audit-trail.js';

/** How long an answer waits for its audit row before it goes out anyway. */
const RECORD_WAIT_MS = 5000;

/** The id a create asks for, from its body (a snapshot's cluster for an import), so that a refused create names it too. */
function requestedId(route: AuditedRoute, req: AuditedRequest): string | undefined {
  if (!route.answerId || req.params?.id !== undefined) return undefined;
  const body = req.body as { id?: unknown; cluster?: { id?: unknown } } | undefined;
  const id = route.action === 'import' ? body?.cluster?.id : body?.id;
  return typeof id === 'string' && id !== '' && id.length <= 200 ? id : undefined;
}

/**
 * Reads the state a change touches just before its handler runs and just after it answers (after
 * the access guard and the body are checked; a create has nothing before). Both are read outside
 * the change's own transaction: a concurrent change of the same thing can show in either.
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  constructor(private readonly trail: AuditTrail) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (context.getType() !== 'http') return next.handle();
    const req = context.switchToHttp().getRequest<AuditedRequest>();
    const path = routeOf(req);
    if (!isAudited(req) || !path) return next.handle();
    const route = auditedRoute(req.method, path);
    const requested = requestedId(route, req);
    const audit: RequestAudit = { targets: requested && route.answerId ? { [route.answerId]: requested } : {} };
    req.audit = audit;
    // Only an import can replace what exists; any other create has nothing before it.
    const stateId = typeof req.params?.id === 'string' ? req.params.id : route.action === 'import' ? requested : undefined;
    if (route.state) audit.before = stateId === undefined ? null : await this.trail.readState(route.state, stateId);
    return next.handle().pipe(
      mergeMap(async (answer: unknown) => {
        audit.targets = { ...audit.targets, ...answerTargets(route, answer) };
        if (route.state) {
          const id = stateId ?? (route.answerId ? audit.targets?.[route.answerId] : undefined);
          audit.after = route.removes || id === undefined ? null : await this.trail.readState(route.state, id);
        }
        return answer;
      }),
    );
  }
}

/**
 * Holds back the answer of each changing /api/v1 request until its audit row is written (at most
 * RECORD_WAIT_MS), so that the row holds the status actually answered, and a caller who reads the
 * trail after an answer finds its row there (a route marked answersBeforeRecorded, the metrics
 * push, answers at once: its row holds the same status, written moments later). Runs before routing; the row is written only for a
 * request the access guard gave a principal.
 */
export function auditTrailMiddleware(trail: AuditTrail) {
  return (req: AuditedRequest, res: Response, next: NextFunction): void => {
    if (!isAudited(req)) return next();
    const at = new Date();
    const end = res.end.bind(res) as (...args: unknown[]) => Response;
    let ended = false;
    res.end = ((...args: unknown[]) => {
      if (ended) return end(...args);
      ended = true;
      const recorded = trail.recordAnswer(req, res, at, args[0]);
      const route = routeOf(req);
      if (route && auditedRoute(req.method, route).answersBeforeRecorded) return end(...args);
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, RECORD_WAIT_MS);
      });
      const answer = () => {
        clearTimeout(timer);
        end(...args);
      };
      void Promise.race([recorded, waited]).then(answer, answer);
      return res;
    }) as Response['end'];
    next();
  };
}
