import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { AppModule } from '../../src/app.module.js';
import { type BallastConfig, loadConfig } from '../../src/config/config.js';
import { migrate } from '../../src/database/data-source.js';
import { dropDatabase, ensureDatabase } from '../../src/database/ensure-database.js';
import { configureHttpApp } from '../../src/http-app.js';
import { deleteKeysUnder } from '../../src/redis/delete-keys.js';

const BASE_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/ballast';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A database of its own, migrated from scratch, for one test file. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const url = new URL(BASE_DATABASE_URL);
  url.pathname = `/ballast_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  await ensureDatabase(url.toString());
  await migrate(url.toString());
  return { url: url.toString(), drop: () => dropDatabase(url.toString()) };
}

export interface TestApp {
  app: NestExpressApplication;
  config: BallastConfig;
  http: ReturnType<typeof request>;
  /** The environment that points another Ballast process at the same database and Redis prefix. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * The real service (every module, real PostgreSQL and Redis) on a fresh database and Redis prefix,
 * without the demo cluster or timed balancing unless asked for.
 */
export async function createTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const database = await createTestDatabase();
  const prefix = `ballast-test-${randomUUID().slice(0, 8)}`;
  // No demo, no balancing and no metrics collection on a timer: tests ask for what they want. No
  // rate limits either (one address and key send every request of a file); test/rate-limits.e2e.spec.ts sets them.
  const shared = {
    DATABASE_URL: database.url,
    REDIS_URL,
    REDIS_PREFIX: prefix,
    BALLAST_DEMO: 'false',
    BALANCE_INTERVAL_SECONDS: '0',
    METRICS_INTERVAL_SECONDS: '0',
    RATE_LIMIT_PER_MINUTE: '0',
    AUTH_FAILURE_LIMIT_PER_MINUTE: '0',
  };
  const config = loadConfig({ ...shared, ...env });
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), { logger: ['error', 'warn'] });
  configureHttpApp(app);
  await app.init();
  return {
    app,
    config,
    http: request(app.getHttpServer()),
    env: { ...shared, ...env },
    async close() {
      await app.close();
      await database.drop();
      await deleteKeysUnder(REDIS_URL, prefix);
    },
  };
}

/** Another Ballast instance on the same database and Redis prefix as `first` (closing it leaves them). */
export async function createSiblingApp(first: TestApp, env: Record<string, string> = {}): Promise<TestApp> {
  const config = loadConfig({ ...first.env, ...env });
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), { logger: ['error', 'warn'] });
  configureHttpApp(app);
  await app.init();
  return { app, config, http: request(app.getHttpServer()), env: { ...first.env, ...env }, close: () => app.close() };
}
