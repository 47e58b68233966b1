import { Controller, Get, Logger, Query, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { badRequest } from '../common/http-errors.js';
import { LiveEvents } from './live-events.js';
import { RequiresRole } from '../auth/access.decorators.js';

const FRAME_EVERY_MS = 1000;
const CLUSTER_ID = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/;

class EventsQuery {
  @ApiPropertyOptional({ description: 'Only the migrations of this cluster' }) clusterId?: string;
}

/**
 * Server-sent events for the dashboard's live view. Authenticated like every other route, by the
 * Authorization header: the dashboard reads the stream with fetch() (EventSource cannot send a
 * header), so a key never travels in a URL, where proxies and logs would keep it.
 */
@ApiTags('dashboard')
@RequiresRole('viewer')
@Controller('api/v1/events')
export class EventsController {
  private readonly logger = new Logger(EventsController.name);

  constructor(private readonly live: LiveEvents) {}

  @Get()
  @ApiOperation({
    summary: 'text/event-stream: every second an event `migrations` with the migrations in flight (phase, progress, prediction) and those that ended since the last one',
  })
  stream(@Query() query: EventsQuery, @Req() request: Request, @Res() response: Response): void {
    const clusterId = query.clusterId ?? null;
    if (clusterId !== null && !CLUSTER_ID.test(clusterId)) throw badRequest('clusterId', `must be an id, got "${clusterId}"`);
    response.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    response.write('retry: 2000\n\n');
    let endedAfter = new Date();
    let closed = false;
    let sending = false;
    const send = async () => {
      if (closed || sending) return;
      sending = true;
      try {
        const frame = await this.live.frame(clusterId, endedAfter);
        if (frame.ended.length > 0) endedAfter = frame.ended[frame.ended.length - 1].finishedAt ?? endedAfter;
        if (!closed) response.write(`event: migrations\ndata: ${JSON.stringify(frame)}\n\n`);
      } catch (error) {
        this.logger.warn(`live events: ${(error as Error).message}`);
      } finally {
        sending = false;
      }
    };
    const timer = setInterval(() => void send(), FRAME_EVERY_MS);
    void send();
    request.on('close', () => {
      closed = true;
      clearInterval(timer);
    });
  }
}
