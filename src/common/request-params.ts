import { type CallHandler, type ExecutionContext, type NestInterceptor, type Type } from '@nestjs/common';
import { PARAMTYPES_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum.js';
import type { Request } from 'express';
import type { Observable } from 'rxjs';
import { badRequest } from './http-errors.js';

/** Where @nestjs/swagger lists a DTO's @ApiProperty names (what the OpenAPI document shows). */
const SWAGGER_PROPERTIES = 'swagger/apiModelPropertiesArray';

const NUL = '\u0000';

/**
 * Path parameters and query parameters, checked once for every route before any handler sees them:
 * - a NUL character anywhere is 400 (PostgreSQL cannot store it: error 22021, which was a 500);
 * - on /api routes, a query parameter the route does not declare is 400 naming it (a misspelt
 *   filter was ignored, and a list answered everything), and so is one given twice or with
 *   brackets (a handler expects one string).
 * A route's query parameters are those of its @Query('name') arguments and the @ApiProperty
 * fields of its @Query() DTO, the same the OpenAPI document lists.
 */
export class RequestParamsInterceptor implements NestInterceptor {
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  private readonly declared = new WeakMap<Function, ReadonlySet<string> | null>();

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const req = context.switchToHttp().getRequest<Request>();
    for (const [name, value] of Object.entries(req.params ?? {})) {
      if (typeof value === 'string' && value.includes(NUL)) throw badRequest(name, 'must not contain a NUL character (%00)');
    }
    const query = req.query as Record<string, unknown>;
    if (req.path.startsWith('/api/')) {
      const allowed = this.queryNamesOf(context.getClass(), context.getHandler());
      for (const [name, value] of Object.entries(query)) {
        const shown = name.replaceAll(NUL, '%00').slice(0, 100);
        if (allowed && !allowed.has(name)) {
          throw badRequest(shown, `unknown query parameter (this route takes ${allowed.size === 0 ? 'none' : [...allowed].join(', ')})`);
        }
        if (typeof value !== 'string') throw badRequest(shown, 'must be given once, as name=value');
        if (value.includes(NUL)) throw badRequest(shown, 'must not contain a NUL character (%00)');
      }
    }
    return next.handle();
  }

  /** null when the route takes a @Query() whose fields are not declared (then nothing is refused). */
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  private queryNamesOf(controller: Type, handler: Function): ReadonlySet<string> | null {
    const known = this.declared.get(handler);
    if (known !== undefined) return known;
    const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, handler.name) ?? {}) as Record<string, { index: number; data?: unknown }>;
    const types = (Reflect.getMetadata(PARAMTYPES_METADATA, controller.prototype, handler.name) ?? []) as (Type | undefined)[];
    let names: Set<string> | null = new Set<string>();
    for (const [key, arg] of Object.entries(args)) {
      if (Number(key.split(':')[0]) !== RouteParamtypes.QUERY) continue;
      if (typeof arg.data === 'string') {
        names?.add(arg.data);
        continue;
      }
      const properties = types[arg.index]?.prototype ? (Reflect.getMetadata(SWAGGER_PROPERTIES, types[arg.index]!.prototype) as string[] | undefined) : undefined;
      if (!properties) names = null;
      else for (const property of properties) names?.add(property.replace(/^:/, ''));
    }
    this.declared.set(handler, names);
    return names;
  }
}
