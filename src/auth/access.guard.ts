import { type CanActivate, createParamDecorator, type ExecutionContext, ForbiddenException, HttpException, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { addLogFields } from '../logging/log-context.js';
import { accessOf } from './access.decorators.js';
import { ApiKeysService, type AuthFailure } from './api-keys.service.js';
import { RateLimits } from './rate-limits.js';
import { type KeyRole, type Principal, roleCovers } from './roles.js';

const FAILURES: Record<AuthFailure, string> = {
  missing: 'no API key: send "Authorization: Bearer <key>"',
  malformed: 'the Authorization header is not "Bearer <key>"',
  unknown: 'this API key is not known',
  revoked: 'this API key was revoked',
  expired: 'this API key has expired',
};

export function unauthorized(failure: AuthFailure, requiredRole: KeyRole): HttpException {
  return new HttpException(
    { statusCode: 401, error: 'Unauthorized', message: `${FAILURES[failure]} (this route needs role ${requiredRole})`, requiredRole },
    401,
  );
}

export function forbidden(principal: Principal, requiredRole: KeyRole): ForbiddenException {
  return new ForbiddenException({
    statusCode: 403,
    error: 'Forbidden',
    message: `this route needs role ${requiredRole}; key "${principal.keyName}" has role ${principal.role}`,
    requiredRole,
    role: principal.role,
  });
}

/** The request's principal, set by the access guard (absent on public routes). */
export function principalOf(request: Request): Principal | undefined {
  return (request as Request & { principal?: Principal }).principal;
}

/**
 * The id of the key that made the request (null on an open API): what plans, approvals, maintenance
 * operations and migrations record as who asked for them.
 */
export const RequesterKeyId = createParamDecorator(
  (_: unknown, context: ExecutionContext): string | null => principalOf(context.switchToHttp().getRequest<Request>())?.keyId ?? null,
);

/**
 * Every route's gate: a public route lets anyone through; any other needs a key whose role covers
 * the route's (401 without a valid key, 403 with a role too low), within the rate limits (429,
 * src/auth/rate-limits.ts). A route that declares neither is
 * refused, so a forgotten decorator closes the route rather than opens it.
 */
@Injectable()
export class AccessGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeysService,
    private readonly limits: RateLimits,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const access = accessOf(this.reflector, context.getHandler(), context.getClass());
    if (!access) {
      throw new ForbiddenException({ statusCode: 403, error: 'Forbidden', message: 'this route declares no role (@RequiresRole or @Public): refused' });
    }
    if (access.public) return true;
    const request = context.switchToHttp().getRequest<Request & { principal?: Principal }>();
    const response = context.switchToHttp().getResponse<Response>();
    await this.limits.checkAddress(request, response);
    const principal = await this.keys.authenticate(request.headers.authorization);
    if (typeof principal === 'string') {
      await this.limits.authenticationFailed(request);
      response.setHeader('WWW-Authenticate', 'Bearer');
      throw unauthorized(principal, access.role);
    }
    // Known before the role check, so a refused request is audited with the key that made it.
    request.principal = principal;
    if (principal.keyId) addLogFields({ keyId: principal.keyId });
    await this.limits.countRequest(principal, request, response);
    if (!roleCovers(principal.role, access.role)) throw forbidden(principal, access.role);
    return true;
  }
}
