import type { NestExpressApplication } from '@nestjs/platform-express';

export interface RouteEntry {
  method: string;
  /** Express form: /api/v1/hosts/:id */
  path: string;
}

interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
}

/** Every route the HTTP server answers, read from Express's own router (what Nest registered). */
export function routeTable(app: NestExpressApplication): RouteEntry[] {
  const stack = (app.getHttpAdapter().getInstance() as { router: { stack: Layer[] } }).router.stack;
  const routes: RouteEntry[] = [];
  for (const layer of stack) {
    if (!layer.route) continue;
    for (const path of [layer.route.path].flat()) {
      for (const [method, on] of Object.entries(layer.route.methods)) {
        if (on && method !== '_all') routes.push({ method: method.toUpperCase(), path });
      }
    }
  }
  return routes;
}

/** The OpenAPI path of an Express path (/hosts/:id -> /hosts/{id}). */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** The path with every parameter filled in. */
export function concretePath(path: string, value = 'no-such-id'): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, value);
}
