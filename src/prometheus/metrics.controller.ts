import { Controller, Get, Header, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { BallastMetrics } from './ballast-metrics.js';
import { RequiresRole } from '../auth/access.decorators.js';

@ApiTags('observability')
@RequiresRole('viewer')
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: BallastMetrics) {}

  @Get()
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ summary: 'Prometheus text format: clusters, hosts, migrations, queue, planner, process' })
  async scrape(@Res() response: Response): Promise<void> {
    const text = await this.metrics.text();
    response.type(this.metrics.contentType()).send(text);
  }
}
