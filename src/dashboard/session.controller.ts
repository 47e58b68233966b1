import { Controller, Get, Req } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { RequiresRole } from '../auth/access.decorators.js';

interface SessionView {
  keyId: string | null;
  keyName: string;
  role: 'viewer' | 'operator' | 'admin';
}

const OPEN: SessionView = { keyId: null, keyName: 'open API (no key configured)', role: 'admin' };

/** Who the caller is: the dashboard signs in with it and offers only what the key's role may do. */
@ApiTags('dashboard')
@RequiresRole('viewer')
@Controller('api/v1/session')
export class SessionController {
  @Get()
  @ApiOperation({ summary: "The caller's key: id, name and role" })
  whoAmI(@Req() request: Request): SessionView {
    const principal = (request as Request & { principal?: SessionView }).principal;
    return principal ? { keyId: principal.keyId, keyName: principal.keyName, role: principal.role } : OPEN;
  }
}
