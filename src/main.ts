#!/usr/bin/env node
import 'reflect-metadata';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module.js';
import { ApiKeysService } from './auth/api-keys.service.js';
import { bindAddress } from './auth/bind-address.js';
import { type BallastConfig, ConfigError, loadConfig } from './config/config.js';
import { migrate } from './database/data-source.js';
import { DemoService } from './demo/demo.service.js';
import { listenError } from './config/listen-error.js';
import { configureHttpApp } from './http-app.js';
import { createPino, PinoLoggerService } from './logging/logger.js';
import { checkEngineSwitch, EngineSwitchError } from './startup/engine-guard.js';
import { checkRedis, preparePostgres, UnreachableServiceError } from './startup/preflight.js';

async function start(config: BallastConfig): Promise<void> {
  const logService = new PinoLoggerService(createPino({ level: config.LOG_LEVEL, format: config.LOG_FORMAT }));
  Logger.overrideLogger(logService);
  const logger = new Logger('Ballast');
  // Redis first: a start it refuses leaves nothing behind (no database created).
  const redisWarning = await checkRedis(config.REDIS_URL);
  if (redisWarning) logger.warn(redisWarning);
  await preparePostgres(config.DATABASE_URL);
  const applied = await migrate(config.DATABASE_URL);
  if (applied.length > 0) logger.log(`applied migrations: ${applied.join(', ')}`);
  await checkEngineSwitch(config.DATABASE_URL, config.MIGRATION_ENGINE);

  const roles = [...config.BALLAST_ROLES].join(',');
  if (config.BALLAST_ROLES.has('api')) {
    const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), { logger: logService });
    configureHttpApp(app);
    const demo = await app.get(DemoService).prepare();
    const bound = bindAddress(config.HOST, await app.get(ApiKeysService).isOpen());
    if (bound.notice) logger.warn(bound.notice);
    const url = await listen(app, config.PORT, bound.host);
    logger.log(`roles ${roles}; API on ${url}/api/v1, docs on ${url}/docs`);
    if (demo) logger.log(`demo cluster: ${url}/api/v1/clusters/${demo}/snapshot`);
  } else {
    const app = await NestFactory.createApplicationContext(AppModule.forRoot(config), { logger: logService });
    app.enableShutdownHooks();
    await app.get(DemoService).prepare();
    logger.log(`roles ${roles} (no HTTP API in this process)`);
  }
}

/** Listens (on every interface when `host` is undefined) and answers the URL to print. */
async function listen(app: NestExpressApplication, port: number, host: string | undefined): Promise<string> {
  // The server is started here rather than by app.listen(), which logs a failure with a stack of its own.
  await app.init();
  const server = app.getHttpServer() as Server;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    const shown = host === undefined || ['127.0.0.1', '::1'].includes(address.address) ? 'localhost' : address.address;
    return `http://${shown.includes(':') ? `[${shown}]` : shown}:${address.port}`;
  } catch (error) {
    throw listenError(error, 'PORT', port, host);
  }
}

function fail(message: string): never {
  process.stderr.write(`ballast: ${message}\n`);
  process.exit(1);
}

try {
  await start(loadConfig());
} catch (error) {
  if (error instanceof ConfigError) fail(`invalid configuration: ${error.message}`);
  if (error instanceof UnreachableServiceError || error instanceof EngineSwitchError) fail(error.message);
  fail(`failed to start: ${(error as Error).stack ?? String(error)}`);
}
