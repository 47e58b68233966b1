import { applyDecorators, SetMetadata } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import { ApiExtension } from '@nestjs/swagger';
import type { KeyRole } from './roles.js';

/** What a route asks of a request: a key with at least a role, or nothing (public). */
export type Access = { public: true } | { public: false; role: KeyRole };

const ACCESS = 'ballast:access';
/** The OpenAPI extensions that carry a route's access (configureHttpApp turns them into `security`). */
export const ROLE_EXTENSION = 'x-ballast-role';
export const PUBLIC_EXTENSION = 'x-ballast-public';

/**
 * The least role a key needs for this route (on a method) or for every route of a controller (on
 * the class; a method's own decorator wins). Every route carries this or @Public(): the access
 * guard refuses a route that has neither, and test/access.e2e.spec.ts fails on it.
 */
export function RequiresRole(role: KeyRole): MethodDecorator & ClassDecorator {
  return applyDecorators(SetMetadata(ACCESS, { public: false, role } satisfies Access), ApiExtension(ROLE_EXTENSION, role));
}

/** A route anyone may call without a key (health probes). */
export function Public(): MethodDecorator & ClassDecorator {
  return applyDecorators(SetMetadata(ACCESS, { public: true } satisfies Access), ApiExtension(PUBLIC_EXTENSION, true));
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export function accessOf(reflector: Reflector, handler: Function, controller: Function): Access | undefined {
  return reflector.getAllAndOverride<Access | undefined>(ACCESS, [handler, controller]);
}
