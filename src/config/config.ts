import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENGINE_NAMES } from '../engine/migration-engine.js';
import { parseFaultSpec } from '../engine/simulated/fault-spec.js';
import { minimumLeaseMs } from '../engine/simulated/simulated-engine.js';
import { METRICS_SOURCE_NAMES } from '../metrics/metrics-source.js';
import { LOG_FORMATS, LOG_LEVELS } from '../logging/log-settings.js';
import { ConfigError } from './config-error.js';

export { ConfigError };

/**
 * Every setting of Ballast is an environment variable. `SETTINGS` is the one place that knows their
 * names, defaults and valid values; a test keeps the README's configuration table in step with it.
 */
export const ROLES = ['api', 'scheduler', 'worker'] as const;
export type Role = (typeof ROLES)[number];

type Env = Record<string, string | undefined>;

interface Setting<T> {
  default: string;
  description: string;
  parse(raw: string, name: string): T;
}

function url(...protocols: string[]) {
  return (raw: string, name: string): string => {
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new ConfigError(`${name} is not a URL: "${raw}"`);
    }
    if (!protocols.includes(parsed.protocol)) {
      throw new ConfigError(`${name} must start with ${protocols.map((p) => `${p}//`).join(' or ')}: "${raw}"`);
    }
    return raw;
  };
}

export function integer(min: number, max: number) {
  return (raw: string, name: string): number => {
    if (!/^-?\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number: "${raw}"`);
    const value = Number(raw);
    if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}: "${raw}"`);
    return value;
  };
}

export function decimal(min: number, max: number) {
  return (raw: string, name: string): number => {
    const value = Number(raw);
    if (raw === '' || !Number.isFinite(value)) throw new ConfigError(`${name} must be a number: "${raw}"`);
    if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}: "${raw}"`);
    return value;
  };
}

function boolean(raw: string, name: string): boolean {
  const lower = raw.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(lower)) return true;
  if (['false', '0', 'no', 'off'].includes(lower)) return false;
  throw new ConfigError(`${name} must be true or false: "${raw}"`);
}

export function oneOf<T extends string>(values: readonly T[]) {
  return (raw: string, name: string): T => {
    if (!(values as readonly string[]).includes(raw)) {
      throw new ConfigError(`${name} must be one of ${values.join(', ')}: "${raw}"`);
    }
    return raw as T;
  };
}

function roles(raw: string, name: string): ReadonlySet<Role> {
  const names = raw.split(',').map((r) => r.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(ROLES as readonly string[]).includes(n));
  if (unknown.length > 0 || names.length === 0) {
    throw new ConfigError(`${name} must be a comma-separated list of ${ROLES.join(', ')}: "${raw}"`);
  }
  return new Set(names as Role[]);
}

function promql(raw: string, name: string): string {
  if (raw.trim() === '') throw new ConfigError(`${name} must be a PromQL query`);
  return raw;
}

function labels(raw: string, name: string): string[] {
  const names = raw.split(',').map((l) => l.trim()).filter(Boolean);
  if (names.length === 0 || names.some((l) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(l))) {
    throw new ConfigError(`${name} must be a comma-separated list of Prometheus label names: "${raw}"`);
  }
  return names;
}

function bindAddress(raw: string, name: string): string {
  if (raw !== '' && isIP(raw) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/.test(raw)) {
    throw new ConfigError(`${name} must be an IP address or a host name: "${raw}"`);
  }
  return raw;
}

function adminKey(raw: string, name: string): string {
  // Compared through a fast hash (src/auth/key-hash.ts): only a long random key is safe that way.
  if (raw !== '' && (raw.length < 32 || raw.length > 512 || /\s/.test(raw))) {
    throw new ConfigError(`${name} must be 32 to 512 characters without spaces (e.g. the output of "openssl rand -base64 32")`);
  }
  return raw;
}

/** Express's "trust proxy" list: the proxies whose X-Forwarded-For is believed. */
function trustedProxies(raw: string, name: string): string[] {
  const entries = raw.split(',').map((entry) => entry.trim()).filter(Boolean);
  for (const entry of entries) {
    if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) continue;
    const [address, bits, extra] = entry.split('/');
    const family = isIP(address);
    const prefixOk = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32));
    if (family === 0 || !prefixOk || extra !== undefined) {
      throw new ConfigError(`${name} must be a comma-separated list of IP addresses, CIDRs (10.0.0.0/8) or loopback, linklocal, uniquelocal: "${entry}"`);
    }
  }
  return entries;
}

export const SETTINGS = {
  DATABASE_URL: {
    default: 'postgres://root@127.0.0.1:5432/ballast',
    description: 'PostgreSQL database; created at start if it does not exist',
    parse: url('postgres:', 'postgresql:'),
  },
  REDIS_URL: {
    default: 'redis://127.0.0.1:6379',
    description: 'Redis for the migration queue (needs `maxmemory-policy noeviction`)',
    parse: url('redis:', 'rediss:'),
  },
  REDIS_PREFIX: {
    default: 'ballast',
    description: 'Prefix of every Redis key (several installations can share one Redis)',
    parse: (raw: string, name: string) => {
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(raw)) throw new ConfigError(`${name} must be 1-64 letters, digits, _ . -: "${raw}"`);
      return raw;
    },
  },
  PORT: { default: '3000', description: 'HTTP port of the API (role `api`)', parse: integer(0, 65535) },
  HOST: {
    default: '',
    description: 'Address the API listens on; default: loopback (127.0.0.1) while no key is configured (no `BALLAST_ADMIN_KEY`, no stored key), else every interface. A non-loopback address with no key configured is refused',
    parse: bindAddress,
  },
  BALLAST_ADMIN_KEY: {
    default: '',
    description: 'Bootstrap admin API key (at least 32 characters, e.g. `openssl rand -base64 32`); never stored. With it set, every route but health and docs needs a key',
    parse: adminKey,
  },
  BODY_LIMIT_KB: {
    default: '1024',
    description: 'Largest request body in KB on every route but snapshot import and metrics push (413 past it); GET takes none',
    parse: integer(1, 1024 * 1024),
  },
  IMPORT_BODY_LIMIT_MB: {
    default: '64',
    description: 'Largest request body in MB of snapshot import (`POST /api/v1/clusters/import`) and metrics push (`POST /api/v1/metrics`); a 500-host, 50,000-VM snapshot is about 8 MB of compact JSON',
    parse: integer(1, 1024),
  },
  AUDIT_RETENTION_DAYS: {
    default: '365',
    description: 'How long the audit trail keeps a row (`GET /api/v1/audit`); older rows are deleted hourly by the scheduler; 0 keeps them for good',
    parse: integer(0, 36500),
  },
  RATE_LIMIT_PER_MINUTE: {
    default: '3000',
    description: 'Requests one API key (on an open API, one client address) may make a minute, in bursts of as many (429 with Retry-After past it); counted per API process; 0 turns it off',
    parse: integer(0, 1_000_000),
  },
  AUTH_FAILURE_LIMIT_PER_MINUTE: {
    default: '60',
    description: 'Failed authentications (no key, a wrong, revoked or expired key) one client address may have a minute; past it every request from the address that needs a key is 429 until one is allowed again; counted per API process; 0 turns it off',
    parse: integer(0, 1_000_000),
  },
  TRUST_PROXY: {
    default: '',
    description: 'Addresses of the reverse proxies in front of Ballast whose `X-Forwarded-For` names the client (for the per-address limit of failed authentications): comma-separated IPs, CIDRs or `loopback`, `linklocal`, `uniquelocal`; empty: the connection\'s own address',
    parse: trustedProxies,
  },
  BALLAST_ROLES: {
    default: 'api,scheduler,worker',
    description: 'What this process runs: any of `api`, `scheduler`, `worker`',
    parse: roles,
  },
  BALLAST_DEMO: {
    default: 'true',
    description: 'Import a demo cluster when the database has no cluster; `libvirt-lab` sets up two libvirt daemons of this machine with guests and their cluster (torn down on stop)',
    parse: (raw: string, name: string): boolean | 'libvirt-lab' => {
      if (raw.toLowerCase() === 'libvirt-lab') return 'libvirt-lab';
      try {
        return boolean(raw, name);
      } catch {
        throw new ConfigError(`${name} must be true or false (or libvirt-lab): "${raw}"`);
      }
    },
  },
  MIGRATION_ENGINE: {
    default: 'simulated',
    description: 'Migration engine: `simulated` (a model of pre-copy live migration), `qemu` (real QEMU guests on this machine) or `libvirt` (real hosts through their `connectionUri`)',
    parse: oneOf(ENGINE_NAMES),
  },
  MIGRATION_DOWNTIME_LIMIT_MS: {
    default: '300',
    description: 'Longest switchover pause a live migration may impose on a guest',
    parse: integer(1, 60000),
  },
  MIGRATION_MAX_PER_HOST: {
    default: '8',
    description: 'Concurrent migrations a host takes part in, as source or target (its link also caps it: 4 below 10 Gb/s, 8 from 10 Gb/s)',
    parse: integer(1, 64),
  },
  MIGRATION_MAX_PER_CLUSTER: {
    default: '64',
    description: 'Concurrent migrations in one cluster',
    parse: integer(1, 100000),
  },
  MIGRATION_ATTEMPTS: {
    default: '3',
    description: 'Attempts of a migration whose engine error is transient, with exponential backoff from 1 s',
    parse: integer(1, 20),
  },
  MIGRATION_LOCK_SECONDS: {
    default: '30',
    description: 'A worker that has not renewed its lock on a migration for this long is taken for dead; its migration is reconciled',
    parse: integer(1, 3600),
  },
  WORKER_CONCURRENCY: {
    default: '32',
    description: 'Migrations one worker process drives at once',
    parse: integer(1, 1000),
  },
  BALANCE_INTERVAL_SECONDS: {
    default: '300',
    description: 'Scheduler: how often the closed loop evaluates a cluster whose policy names no interval or cron; 0 turns the closed loop off',
    parse: integer(0, 86400),
  },
  DISCOVERY_INTERVAL_SECONDS: {
    default: '300',
    description: 'Scheduler: how often the hosts with a `connectionUri` are discovered (capacity, VMs); 0 turns it off',
    parse: integer(0, 86400),
  },
  LIBVIRT_DIRTY_RATE_INTERVAL_SECONDS: {
    default: '900',
    description: 'Scheduler: how often libvirt measures the memory dirty rate of the running VMs of clusters with `metricsSource: libvirt`; 0 turns it off',
    parse: integer(0, 86400),
  },
  SIM_TIME_SCALE: {
    default: '1',
    description: 'Simulated engine: wall seconds per simulated second (0.01 runs 100x faster; 0 completes at once)',
    parse: decimal(0, 1000),
  },
  QEMU_LAB_DIR: {
    default: join(tmpdir(), 'ballast-qemu'),
    description: 'qemu engine: where the lab keeps its guests, disks (one directory per datastore) and records',
    parse: (raw: string) => raw,
  },
  SIM_FAULTS: {
    default: '',
    description: 'Simulated engine: fault injection, comma-separated (see "Fault injection" below)',
    parse: parseFaultSpec,
  },
  METRICS_SOURCE: {
    default: 'simulated',
    description: 'Metrics source of a cluster that names none (`metricsSource`): `simulated`, `prometheus`, `push` or `libvirt`',
    parse: oneOf(METRICS_SOURCE_NAMES),
  },
  METRICS_INTERVAL_SECONDS: {
    default: '20',
    description: 'Scheduler: how often the collector measures each polled cluster and smooths every cluster\'s demand; 0 turns it off',
    parse: integer(0, 3600),
  },
  METRICS_RETENTION_DAYS: {
    default: '30',
    description: 'How long samples are kept (raw for a day, then 5-minute averages and maxima); older pushed samples are refused',
    parse: integer(2, 3650),
  },
  METRICS_SIM_SEED: {
    default: '1',
    description: 'Simulated metrics: the seed of the noise and spikes (same seed, same load)',
    parse: integer(0, 2 ** 31 - 1),
  },
  METRICS_SIM_TRACE: {
    default: '',
    description: 'Simulated metrics: replay a trace instead (TRACE.md): the path prefix of its two files, `PREFIXvms.csv` and `PREFIXusage.csv`',
    parse: (raw: string, name: string) => {
      for (const file of raw ? [`${raw}vms.csv`, `${raw}usage.csv`] : []) {
        if (!existsSync(file)) throw new ConfigError(`${name}: there is no trace file ${file}`);
      }
      return raw;
    },
  },
  PROMETHEUS_URL: {
    default: 'http://127.0.0.1:9090',
    description: 'prometheus metrics source: the Prometheus server whose HTTP API is asked',
    parse: url('http:', 'https:'),
  },
  PROMETHEUS_VM_CPU_QUERY: {
    default: 'irate(libvirt_domain_info_cpu_time_seconds_total[1m]) * 2600',
    description: "prometheus metrics source: a VM's CPU demand in MHz (the newest CPU seconds per second, irate: Ballast smooths; x 2600 MHz per CPU: use your hosts' clock)",
    parse: promql,
  },
  PROMETHEUS_VM_MEMORY_QUERY: {
    default: 'libvirt_domain_info_memory_usage_bytes / 1048576',
    description: "prometheus metrics source: a VM's active memory in MB",
    parse: promql,
  },
  PROMETHEUS_HOST_CPU_QUERY: {
    default: 'sum without (cpu, mode) (irate(node_cpu_seconds_total{mode!="idle"}[1m])) * 2600',
    description: "prometheus metrics source: a host's CPU used in MHz (node_exporter)",
    parse: promql,
  },
  PROMETHEUS_HOST_MEMORY_QUERY: {
    default: '(node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes) / 1048576',
    description: "prometheus metrics source: a host's memory used in MB (node_exporter)",
    parse: promql,
  },
  PROMETHEUS_VM_LABELS: {
    default: 'uuid,domain',
    description: "prometheus metrics source: the labels that may hold a VM's id, tried in order",
    parse: labels,
  },
  PROMETHEUS_HOST_LABELS: {
    default: 'ballast_host,instance',
    description: "prometheus metrics source: the labels that may hold a host's id, tried in order (`id:port` matches too)",
    parse: labels,
  },
  LOG_LEVEL: {
    default: 'info',
    description: 'Lowest level written to the log: `error`, `warn`, `info` or `debug` (debug adds one line per HTTP request)',
    parse: oneOf(LOG_LEVELS),
  },
  LOG_FORMAT: {
    default: 'auto',
    description: 'Log lines as `json` (one object a line), `pretty` (for people), or `auto`: pretty on a terminal, JSON otherwise',
    parse: oneOf(LOG_FORMATS),
  },
  METRICS_PORT: {
    default: '',
    description: 'Also serve `/metrics` without a key on this port of 127.0.0.1 (for a local Prometheus); empty: only on the API, with a key',
    parse: (raw: string, name: string) => (raw === '' ? null : integer(0, 65535)(raw, name)),
  },
  WEBHOOK_ATTEMPTS: {
    default: '8',
    description: 'Attempts to deliver a webhook notification, with exponential backoff from 1 s (capped at 5 min)',
    parse: integer(1, 30),
  },
  WEBHOOK_TIMEOUT_MS: {
    default: '5000',
    description: 'How long a webhook receiver has to answer one delivery attempt',
    parse: integer(100, 60000),
  },
} satisfies Record<string, Setting<unknown>>;

type Settings = typeof SETTINGS;
export type SettingName = keyof Settings;
export type BallastConfig = { [K in SettingName]: ReturnType<Settings[K]['parse']> };

/** Reads and validates every setting; the first bad value throws a ConfigError naming it. */
export function loadConfig(env: Env = process.env): BallastConfig {
  const config: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(SETTINGS) as [SettingName, Setting<unknown>][]) {
    const raw = env[name]?.trim();
    config[name] = setting.parse(raw === undefined || raw === '' ? setting.default : raw, name);
  }
  checkCombinations(config as BallastConfig);
  return config as BallastConfig;
}

/** Settings valid one by one that do not work together: a ConfigError naming them and the rule. */
function checkCombinations(config: BallastConfig): void {
  const leaseMs = config.MIGRATION_LOCK_SECONDS * 1000;
  const neededMs = minimumLeaseMs(config.SIM_TIME_SCALE);
  if (config.MIGRATION_ENGINE === 'simulated' && leaseMs < neededMs) {
    throw new ConfigError(
      `SIM_TIME_SCALE=${config.SIM_TIME_SCALE} with MIGRATION_LOCK_SECONDS=${config.MIGRATION_LOCK_SECONDS}: the simulated engine renews a ` +
        `migration's lock every SIM_TIME_SCALE x 100 ms and the lock must last two renewals, so MIGRATION_LOCK_SECONDS must be at least ` +
        `SIM_TIME_SCALE / 5 (here ${Math.ceil(neededMs / 1000)}), or SIM_TIME_SCALE at most 5 x MIGRATION_LOCK_SECONDS (here ${config.MIGRATION_LOCK_SECONDS * 5})`,
    );
  }
}

/** A URL with its password masked, for messages. */
export function redactUrl(raw: string): string {
  try {
    const parsed = new URL(raw);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return raw;
  }
}

export const BALLAST_CONFIG = Symbol('BALLAST_CONFIG');
