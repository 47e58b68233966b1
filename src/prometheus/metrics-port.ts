import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { listenError } from '../config/listen-error.js';
import { BallastMetrics } from './ballast-metrics.js';

/**
 * `METRICS_PORT`: /metrics without a key, on loopback only, in any process (a worker-only process
 * has no API), for a Prometheus on the same machine.
 */
@Injectable()
export class MetricsPort implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(MetricsPort.name);
  private server: Server | null = null;

  constructor(
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
    private readonly metrics: BallastMetrics,
  ) {}

  /** The port it listens on (METRICS_PORT=0 picks a free one), or null. */
  port(): number | null {
    return this.server ? (this.server.address() as AddressInfo).port : null;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.METRICS_PORT === null) return;
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('only GET /metrics here\n');
        return;
      }
      this.metrics.text().then(
        (text) => res.writeHead(200, { 'Content-Type': this.metrics.contentType() }).end(text),
        (error: Error) => {
          this.logger.error(`metrics scrape: ${error.message}`);
          res.writeHead(503, { 'Content-Type': 'text/plain' }).end('metrics unavailable\n');
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(listenError(error, 'METRICS_PORT', this.config.METRICS_PORT!, '127.0.0.1')));
      server.listen(this.config.METRICS_PORT!, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.logger.log(`metrics on http://127.0.0.1:${this.port()}/metrics`);
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
