import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { RequiresRole } from '../auth/access.decorators.js';
import { RequesterKeyId } from '../auth/access.guard.js';
import { ParseBodyPipe } from '../common/parse-body.pipe.js';
import { readerOf } from '../planner/validate-snapshot.js';
import { type ManualMigration, ManualMigrationService } from './manual-migration.service.js';

class MigrateVmDto {
  @ApiProperty({ description: 'The host of the VM\'s cluster to move it to' }) hostId!: string;
}

function parseMigrateVm(body: unknown): { hostId: string } {
  const reader = readerOf(body, 'body');
  reader.rejectUnknown(['hostId']);
  return { hostId: reader.id('hostId') };
}

@ApiTags('vms')
@Controller('api/v1/vms')
export class ManualMigrationController {
  constructor(private readonly manual: ManualMigrationService) {}

  @Post(':id/migrate')
  @RequiresRole('operator')
  @HttpCode(202)
  @ApiOperation({
    summary: 'vMotion: migrate the VM to the chosen host, checked by the planner\'s filters (409 with the reason), at priority 1',
  })
  @ApiBody({ type: MigrateVmDto })
  migrate(
    @Param('id') vmId: string,
    @Body(new ParseBodyPipe(parseMigrateVm)) body: { hostId: string },
    @RequesterKeyId() keyId: string | null,
  ): Promise<ManualMigration> {
    return this.manual.migrate(vmId, body.hostId, keyId);
  }
}
