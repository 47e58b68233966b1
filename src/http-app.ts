import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { QueryErrorFilter } from './common/query-error.filter.js';
import { dashboardDir } from './dashboard/dashboard.controller.js';
import { requestLogMiddleware } from './logging/request-log.middleware.js';

/** What every HTTP instance of Ballast has, in the service and in the end-to-end tests alike. */
export function configureHttpApp(app: NestExpressApplication): void {
  // A 500-host snapshot is tens of megabytes of JSON.
  app.use(requestLogMiddleware());
  const dashboard = dashboardDir();
  if (dashboard) app.useStaticAssets(dashboard, { prefix: '/dashboard/', index: false, maxAge: '1h' });
  app.useBodyParser('json', { limit: '200mb' });
  app.useGlobalFilters(new QueryErrorFilter());
  app.enableShutdownHooks();
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Ballast')
      .setDescription('Policy-driven load balancer for virtual-machine clusters: inventory, plans, live migrations, maintenance')
      .setVersion('1')
      .build(),
  );
  SwaggerModule.setup('docs', app, document);
}
