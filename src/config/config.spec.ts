import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig, SETTINGS } from './config.js';

describe('configuration', () => {
  it('has a default for everything', () => {
    const config = loadConfig({});
    expect(config.PORT).toBe(3000);
    expect([...config.BALLAST_ROLES]).toEqual(['api', 'scheduler', 'worker']);
    expect(config.BALLAST_DEMO).toBe(true);
    expect(config.MIGRATION_ENGINE).toBe('simulated');
    expect(config.SIM_TIME_SCALE).toBe(1);
    expect(config.TRUST_PROXY).toEqual([]);
  });

  it('reads the trusted proxies as Express takes them', () => {
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8,fd00::/8 ,192.0.2.1' }).TRUST_PROXY).toEqual(['loopback', '10.0.0.0/8', 'fd00::/8', '192.0.2.1']);
  });

  it.each([
    ['PORT', '-1', 'PORT must be between 0 and 65535'],
    ['PORT', '80.5', 'PORT must be a whole number'],
    ['BALLAST_ROLES', 'api,chef', 'BALLAST_ROLES must be a comma-separated list'],
    ['BALLAST_DEMO', 'sometimes', 'BALLAST_DEMO must be true or false'],
    ['MIGRATION_ENGINE', 'vmotion', 'MIGRATION_ENGINE must be one of simulated, qemu'],
    ['SIM_TIME_SCALE', 'fast', 'SIM_TIME_SCALE must be a number'],
    ['SIM_FAULTS', 'explode:vm-1', 'SIM_FAULTS'],
    ['REDIS_PREFIX', 'a b', 'REDIS_PREFIX must be'],
    ['DATABASE_URL', 'http://x/y', 'DATABASE_URL must start with postgres://'],
    ['TRUST_PROXY', '10.0.0.0/33', 'TRUST_PROXY must be a comma-separated list'],
    ['TRUST_PROXY', 'loopback,proxy.example', 'TRUST_PROXY must be a comma-separated list'],
    ['RATE_LIMIT_PER_MINUTE', '-1', 'RATE_LIMIT_PER_MINUTE must be between 0'],
  ])('refuses %s=%s, naming it', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('refuses a simulated engine whose lock would lapse between two renewals, naming both settings', () => {
    const refused = () => loadConfig({ SIM_TIME_SCALE: '50', MIGRATION_LOCK_SECONDS: '1' });
    expect(refused).toThrow(ConfigError);
    expect(refused).toThrow(/^SIM_TIME_SCALE=50 with MIGRATION_LOCK_SECONDS=1: .*MIGRATION_LOCK_SECONDS must be at least SIM_TIME_SCALE \/ 5 \(here 10\)/);
    expect(loadConfig({ SIM_TIME_SCALE: '50', MIGRATION_LOCK_SECONDS: '10' }).MIGRATION_LOCK_SECONDS).toBe(10);
    expect(loadConfig({ SIM_TIME_SCALE: '50', MIGRATION_LOCK_SECONDS: '1', MIGRATION_ENGINE: 'qemu' }).SIM_TIME_SCALE).toBe(50);
  });

  it('reads roles and numbers', () => {
    const config = loadConfig({ BALLAST_ROLES: ' worker ', WORKER_CONCURRENCY: '64', SIM_TIME_SCALE: '0.01', BALLAST_DEMO: 'false' });
    expect([...config.BALLAST_ROLES]).toEqual(['worker']);
    expect(config.WORKER_CONCURRENCY).toBe(64);
    expect(config.SIM_TIME_SCALE).toBe(0.01);
    expect(config.BALLAST_DEMO).toBe(false);
  });

  it('the README documents every setting with its default', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const [name, setting] of Object.entries(SETTINGS)) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
      expect(row).toBeDefined();
      if (setting.default && !setting.default.startsWith('/')) expect(row).toContain(`\`${setting.default}\``);
    }
  });
});
