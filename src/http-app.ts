import { Reflector } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { AuditTrail } from './audit/audit-trail.js';
import { AuditInterceptor, auditTrailMiddleware } from './audit/audit.interceptor.js';
import { PUBLIC_EXTENSION, ROLE_EXTENSION } from './auth/access.decorators.js';
import { QueryErrorFilter } from './common/query-error.filter.js';
import { bodyGateMiddleware, BodyInterceptor, type BodyLimits } from './common/request-body.js';
import { RequestParamsInterceptor } from './common/request-params.js';
import { securityHeadersMiddleware } from './common/security-headers.js';
import { BALLAST_CONFIG, type BallastConfig } from './config/config.js';
import { dashboardDir } from './dashboard/dashboard.controller.js';
import { requestLogMiddleware } from './logging/request-log.middleware.js';

/** What every HTTP instance of Ballast has, in the service and in the end-to-end tests alike. */
export function configureHttpApp(app: NestExpressApplication): void {
  const config = app.get<BallastConfig>(BALLAST_CONFIG);
  const limits: BodyLimits = { defaultBytes: config.BODY_LIMIT_KB * 1024, largeBytes: config.IMPORT_BODY_LIMIT_MB * 1024 * 1024 };
  app.disable('x-powered-by');
  if (config.TRUST_PROXY.length > 0) app.set('trust proxy', config.TRUST_PROXY);
  app.use(requestLogMiddleware());
  // A changing request's answer waits for its audit row (written only once the access guard accepted its key).
  app.use(auditTrailMiddleware(app.get(AuditTrail)));
  app.use(securityHeadersMiddleware());
  const dashboard = dashboardDir();
  if (dashboard) app.useStaticAssets(dashboard, { prefix: '/dashboard/', index: false, maxAge: '1h' });
  app.use(withoutNestParsers(bodyGateMiddleware(limits)));
  // Parameters first: a request they refuse has no body read. The audit's state before a change is read once the body is.
  app.useGlobalInterceptors(new RequestParamsInterceptor(), new BodyInterceptor(app.get(Reflector), limits), app.get(AuditInterceptor));
  app.useGlobalFilters(new QueryErrorFilter());
  app.enableShutdownHooks();
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Ballast')
      .setDescription('Policy-driven load balancer for virtual-machine clusters: inventory, plans, live migrations, maintenance')
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API key (POST /api/v1/keys, or BALLAST_ADMIN_KEY)' })
      .build(),
  );
  declareAccess(document);
  SwaggerModule.setup('docs', app, document);
}

/**
 * Nest adds Express's JSON and urlencoded parsers at init unless a middleware of their names is
 * already there (or the app was created with bodyParser: false): ours takes both names, so no
 * way of creating the app brings back form parsing or a second reader of the body.
 */
function withoutNestParsers(gate: ReturnType<typeof bodyGateMiddleware>) {
  const jsonParser: typeof gate = (req, res, next) => gate(req, res, next);
  const urlencodedParser: typeof gate = (_req, _res, next) => next();
  return [jsonParser, urlencodedParser];
}

/** Each operation's role (from @RequiresRole / @Public) as OpenAPI security, and in its description; its 401, 403 and 429. */
function declareAccess(document: OpenAPIObject): void {
  for (const item of Object.values(document.paths)) {
    for (const operation of [item.get, item.put, item.post, item.delete, item.patch]) {
      if (!operation) continue;
      const extensions = operation as unknown as Record<string, unknown>;
      const role = extensions[ROLE_EXTENSION];
      if (extensions[PUBLIC_EXTENSION]) {
        operation.security = [];
      } else if (typeof role === 'string') {
        operation.security = [{ bearer: [] }];
        operation.description = [operation.description, `Needs an API key with role **${role}** or above.`].filter(Boolean).join('\n\n');
        operation.responses['401'] ??= { description: `No valid API key (the body names the role needed: ${role})` };
        operation.responses['403'] ??= { description: `The key's role is below ${role}` };
        operation.responses['429'] ??= {
          description: 'Past a rate limit (RATE_LIMIT_PER_MINUTE of the key, AUTH_FAILURE_LIMIT_PER_MINUTE of the address): the body says which, Retry-After when to retry',
        };
      }
    }
  }
}
