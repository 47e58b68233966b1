import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { RequiresRole } from '../auth/access.decorators.js';
import { RequesterKeyId } from '../auth/access.guard.js';
import { ParseBodyPipe } from '../common/parse-body.pipe.js';
import { HEALTH_SEVERITIES } from '../planner/snapshot.js';
import { readerOf } from '../planner/validate-snapshot.js';
import { HostHealthService, type HealthOutcome, type HealthReport } from './host-health.service.js';

class HealthReportDto {
  @ApiProperty({ enum: HEALTH_SEVERITIES }) severity!: string;
  @ApiPropertyOptional({ example: 'PSU 2 failed (IPMI)' }) detail?: string;
}

function parseHealthReport(body: unknown): HealthReport {
  const r = readerOf(body, 'body');
  r.rejectUnknown(['severity', 'detail']);
  return { severity: r.oneOf('severity', HEALTH_SEVERITIES), ...(r.has('detail') ? { detail: r.text('detail') } : {}) };
}

@ApiTags('hosts')
@RequiresRole('operator')
@Controller('api/v1/hosts')
export class HostHealthController {
  constructor(private readonly health: HostHealthService) {}

  /** A health provider's report (IPMI, SMART, a monitoring webhook): quarantine or maintenance by the policy. */
  @Post(':id/health')
  @HttpCode(200)
  report(
    @Param('id') id: string,
    @Body(new ParseBodyPipe(parseHealthReport)) body: HealthReportDto,
    @RequesterKeyId() keyId: string | null,
  ): Promise<HealthOutcome> {
    return this.health.report(id, body as HealthReport, keyId);
  }
}
