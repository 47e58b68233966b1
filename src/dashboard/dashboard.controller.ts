import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Controller, Get, NotFoundException, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { Public } from '../auth/access.decorators.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Where `npm run build` put the dashboard: dist/dashboard (beside dist/src, or from the sources). */
export function dashboardDir(): string | null {
  for (const dir of [resolve(here, '../../dashboard'), resolve(here, '../../dist/dashboard')]) {
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  return null;
}

/** The dashboard's page at `/`; its scripts and styles are served from /dashboard/ (configureHttpApp). */
@ApiExcludeController()
@Public()
@Controller()
export class DashboardController {
  @Get()
  page(@Res() response: Response): void {
    const dir = dashboardDir();
    if (!dir) throw new NotFoundException({ statusCode: 404, error: 'Not Found', message: 'the dashboard is not built: run npm run build' });
    response.setHeader('Cache-Control', 'no-cache');
    response.sendFile(join(dir, 'index.html'));
  }
}
