import {
  type CallHandler,
  type ExecutionContext,
  HttpException,
  type NestInterceptor,
  SetMetadata,
  type Type,
} from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum.js';
import { Reflector } from '@nestjs/core';
import type { NextFunction, Request, Response } from 'express';
import type { Observable } from 'rxjs';
import { badRequest } from './http-errors.js';
import { JsonInputError, parseJsonInput } from './json-input.js';

/**
 * Request bodies are JSON, read by Ballast itself rather than by Express's parsers (which read
 * text/plain as nothing and form encoding as fields: a cross-site "simple" POST then ran with
 * defaults). Two steps:
 * - `bodyGateMiddleware`, before routing: a body that is not JSON is 415, a body on GET is 413;
 * - `BodyInterceptor`, after the access guard (a caller without a key has nothing read), reads
 *   the body up to the route's limit (413 past it) and parses it with the depth and NUL checks;
 *   a JSON null is 400, not taken for an absent body, and so is a body (but {}) on a route that takes none.
 */

const LARGE_BODY = 'ballast:large-body';

/** This route takes large bodies (snapshot import, metrics push): IMPORT_BODY_LIMIT_MB instead of BODY_LIMIT_KB. */
export const LargeBody = (): MethodDecorator => SetMetadata(LARGE_BODY, true);

export interface BodyLimits {
  defaultBytes: number;
  largeBytes: number;
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json$/i;

function hasBody(req: Request): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

export function payloadTooLarge(message: string): HttpException {
  return new HttpException({ statusCode: 413, error: 'Payload Too Large', message }, 413);
}

export function unsupportedMediaType(message: string): HttpException {
  return new HttpException({ statusCode: 415, error: 'Unsupported Media Type', message }, 415);
}

function answer(res: Response, error: HttpException): void {
  res.status(error.getStatus()).json(error.getResponse());
}

/** Refuses, before routing, what no route takes: a body on GET or HEAD, a body that is not JSON. */
export function bodyGateMiddleware(limits: BodyLimits) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!hasBody(req)) return next();
    const declared = Number(req.headers['content-length']);
    if (req.method === 'GET' || req.method === 'HEAD') {
      return answer(res, payloadTooLarge(`${req.method} takes no body`));
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim();
    if (!JSON_TYPE.test(type)) {
      return answer(res, unsupportedMediaType(`the body must be JSON (Content-Type: application/json), got ${type ? `"${type.slice(0, 100)}"` : 'no Content-Type'}`));
    }
    const charset = /;\s*charset=("?)([^";]+)\1/i.exec(req.headers['content-type'] ?? '')?.[2];
    if (charset && !/^utf-?8$/i.test(charset)) return answer(res, unsupportedMediaType(`the body must be UTF-8, got charset ${charset.slice(0, 40)}`));
    const encoding = req.headers['content-encoding'];
    if (encoding && encoding !== 'identity') return answer(res, unsupportedMediaType(`Content-Encoding ${encoding.slice(0, 40)} is not accepted`));
    if (Number.isFinite(declared) && declared > Math.max(limits.defaultBytes, limits.largeBytes)) {
      return answer(res, payloadTooLarge(bodyTooLarge(Math.max(limits.defaultBytes, limits.largeBytes))));
    }
    next();
  };
}

function bodyTooLarge(limit: number): string {
  return `the body is larger than this route's limit of ${limit >= 1 << 20 ? `${limit / (1 << 20)} MB` : `${limit / 1024} KB`}`;
}

/** Reads the whole body, or at most `limit` bytes: past that, the rest is read off and dropped. */
function readBody(req: Request, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = Number(req.headers['content-length']) > limit;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > limit) {
        tooLarge = true;
        chunks.length = 0;
      } else chunks.push(chunk);
    });
    // Answering only once the body is read off keeps the caller from a reset connection mid-send.
    req.on('end', () => resolve(tooLarge ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function isEmptyObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0;
}

/** Made by configureHttpApp with the configured limits. */
export class BodyInterceptor implements NestInterceptor {
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  private readonly bodyRoutes = new WeakMap<Function, boolean>();

  constructor(
    private readonly reflector: Reflector,
    private readonly limits: BodyLimits,
  ) {}

  /** Whether the handler has a @Body() argument (the route's arguments as Nest registered them). */
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  private takesBody(controller: Type, handler: Function): boolean {
    let known = this.bodyRoutes.get(handler);
    if (known === undefined) {
      const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, handler.name) ?? {}) as Record<string, unknown>;
      known = Object.keys(args).some((key) => Number(key.split(':')[0]) === RouteParamtypes.BODY);
      this.bodyRoutes.set(handler, known);
    }
    return known;
  }

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (context.getType() !== 'http') return next.handle();
    const req = context.switchToHttp().getRequest<Request & { bodyRead?: boolean }>();
    if (!req.bodyRead) {
      req.bodyRead = true;
      req.body = undefined;
      if (hasBody(req)) {
        const large = this.reflector.get<boolean | undefined>(LARGE_BODY, context.getHandler());
        const limit = large ? this.limits.largeBytes : this.limits.defaultBytes;
        const bytes = await readBody(req, limit);
        if (bytes === 'too-large') throw payloadTooLarge(bodyTooLarge(limit));
        if (bytes.length > 0) {
          try {
            req.body = parseJsonInput(bytes, 'body');
          } catch (error) {
            if (error instanceof JsonInputError) throw badRequest(error.field, error.reason);
            throw error;
          }
          // Handlers read an absent body as "the defaults" (body ?? {}): a JSON null must not pass
          // for one (it started a real evacuation and approved every move of a plan).
          if (req.body === null) throw badRequest('body', 'must be a JSON object, got null (leave the body out for the defaults)');
          // A route without a body would ignore one: what the caller meant by it would silently not happen.
          if (!this.takesBody(context.getClass(), context.getHandler()) && !isEmptyObject(req.body)) {
            throw badRequest('body', 'this route takes no body: leave it out (or send {})');
          }
        }
      }
    }
    return next.handle();
  }
}
