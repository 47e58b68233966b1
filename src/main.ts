#!/usr/bin/env node
import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module.js';
import { type BallastConfig, ConfigError, loadConfig } from './config/config.js';
import { migrate } from './database/data-source.js';
import { DemoService } from './demo/demo.service.js';
import { configureHttpApp } from './http-app.js';
import { createPino, PinoLoggerService } from './logging/logger.js';
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

  const roles = [...config.BALLAST_ROLES].join(',');
  if (config.BALLAST_ROLES.has('api')) {
    const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), { logger: logService });
    configureHttpApp(app);
    const demo = await app.get(DemoService).prepare();
    await app.listen(config.PORT);
    const url = (await app.getUrl()).replace('[::1]', 'localhost').replace('127.0.0.1', 'localhost');
    logger.log(`roles ${roles}; API on ${url}/api/v1, docs on ${url}/docs`);
    if (demo) logger.log(`demo cluster: ${url}/api/v1/clusters/${demo}/snapshot`);
  } else {
    const app = await NestFactory.createApplicationContext(AppModule.forRoot(config), { logger: logService });
    app.enableShutdownHooks();
    await app.get(DemoService).prepare();
    logger.log(`roles ${roles} (no HTTP API in this process)`);
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
  if (error instanceof UnreachableServiceError) fail(error.message);
  fail(`failed to start: ${(error as Error).stack ?? String(error)}`);
}
