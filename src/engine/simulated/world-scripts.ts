import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * The Lua scripts that change the simulated world in Redis. Each runs atomically, so a VM's
 * placement, the migration records and the link registrations never disagree, whatever the number
 * of processes. Time is Redis's own clock (TIME), the one clock every process shares.
 *
 * Key layout (P = the engine's key prefix):
 *   P vm:host        hash  vmId -> hostId it runs on (the ground truth locate() answers)
 *   P vm:running     hash  vmId -> 1 | 0 (powered on or off)
 *   P vm:datastore   hash  vmId -> datastore holding its disks
 *   P vm:migration   hash  vmId -> the migration driving it, or left behind by a process that died
 *                          (live only while that record's lease holds)
 *   P vm:attempts    hash  vmId -> migration attempts started (transient fault injection counts them)
 *   P net:mac        hash  MAC -> hostId the network learned it at (the RARP announce)
 *   P migration:ID   hash  state (running|succeeded|failed|cancelled), vmId, kind, source, target,
 *                          attempt, startedAt, finishedAt, owner + leaseUntil (while running),
 *                          result (JSON, when succeeded), error (JSON, when failed or cancelled)
 *   P link:HOST      zset  migrationId -> lease expiry (ms): the migrations sending over that host's link
 *
 * A migration is live while its record is `running` and its lease (leaseUntil, Redis time) has not
 * passed; the driving process renews it every tick. An expired lease cannot be renewed and a record
 * whose owner changed cannot be committed, so a process that stalled and wakes up late never moves
 * a VM that another process has since taken over or given up on.
 */

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

const LIVE = `
local function live(record)
  if redis.call('HGET', record, 'state') ~= 'running' then return false end
  local lease = tonumber(redis.call('HGET', record, 'leaseUntil') or '0')
  return lease ~= nil and lease >= now
end
`;

const CLEAN_LINKS = `
local function linkCount(link)
  redis.call('ZREMRANGEBYSCORE', link, '-inf', '(' .. now)
  return redis.call('ZCARD', link)
end
`;

/**
 * KEYS: record, vm:host, vm:running, vm:datastore, vm:migration, vm:attempts, link:source, link:target
 * ARGV: migrationId, vmId, kind, source, target, owner, leaseMs, sourceDatastore, datastoreToRegister,
 *       prefix, recordTtlMs
 * -> {'done', resultJson} | {'busy'} | {'vm-busy', otherMigrationId} | {'not-on-source', host}
 *    | {'not-on-datastore', datastore} | {'started', attempt, running, onSourceLink, onTargetLink}
 */
const BEGIN = `${NOW}${LIVE}${CLEAN_LINKS}
local record, hosts, power, datastores, current, attempts = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local id, vm, kind, source, target, owner = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local state = redis.call('HGET', record, 'state')
if state == 'succeeded' then return {'done', redis.call('HGET', record, 'result')} end
if live(record) then return {'busy'} end
local other = redis.call('HGET', current, vm)
if other and other ~= id and live(ARGV[10] .. 'migration:' .. other) then return {'vm-busy', other} end
redis.call('HSETNX', hosts, vm, source)
redis.call('HSETNX', power, vm, '1')
if ARGV[9] ~= '' then redis.call('HSETNX', datastores, vm, ARGV[9]) end
local host = redis.call('HGET', hosts, vm)
if host ~= source then return {'not-on-source', host} end
if kind == 'storage' and ARGV[8] ~= '' then
  local datastore = redis.call('HGET', datastores, vm) or ''
  if datastore ~= ARGV[8] then return {'not-on-datastore', datastore} end
end
local attempt = redis.call('HINCRBY', attempts, vm, 1)
redis.call('DEL', record)
redis.call('HSET', record, 'state', 'running', 'vmId', vm, 'kind', kind, 'source', source, 'target', target,
  'owner', owner, 'leaseUntil', string.format('%d', now + tonumber(ARGV[7])), 'attempt', attempt,
  'startedAt', string.format('%d', now))
redis.call('PEXPIRE', record, ARGV[11])
redis.call('HSET', current, vm, id)
return {'started', attempt, redis.call('HGET', power, vm), linkCount(KEYS[7]), linkCount(KEYS[8])}
`;

/**
 * Renews the lease and (un)registers the migration on its links.
 * KEYS: record, link:source, link:target   ARGV: owner, leaseMs, onLink (1|0), migrationId
 * -> {-1} when the lease is lost | {onSourceLink, onTargetLink}
 */
const HEARTBEAT = `${NOW}${LIVE}${CLEAN_LINKS}
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] or not live(KEYS[1]) then return {-1} end
local untilMs = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'leaseUntil', string.format('%d', untilMs))
for i = 2, 3 do
  if ARGV[3] == '1' then redis.call('ZADD', KEYS[i], untilMs, ARGV[4]) else redis.call('ZREM', KEYS[i], ARGV[4]) end
end
return {linkCount(KEYS[2]), linkCount(KEYS[3])}
`;

/**
 * The switchover (and for compute the announce): the VM's placement changes here, once.
 * KEYS: record, vm:host, vm:datastore, vm:migration, net:mac, link:source, link:target
 * ARGV: owner, vmId, kind, source, target, targetDatastore, resultJson, mac, migrationId, recordTtlMs
 * -> 'ok' | 'lost' | 'moved:HOST'
 */
const COMMIT = `${NOW}${LIVE}
local record = KEYS[1]
if redis.call('HGET', record, 'owner') ~= ARGV[1] or not live(record) then return 'lost' end
local vm = ARGV[2]
local host = redis.call('HGET', KEYS[2], vm)
if host ~= ARGV[4] then return 'moved:' .. tostring(host) end
if ARGV[3] == 'compute' then
  redis.call('HSET', KEYS[2], vm, ARGV[5])
  redis.call('HSET', KEYS[5], ARGV[8], ARGV[5])
elseif ARGV[6] ~= '' then
  redis.call('HSET', KEYS[3], vm, ARGV[6])
end
redis.call('HSET', record, 'state', 'succeeded', 'result', ARGV[7], 'finishedAt', string.format('%d', now))
redis.call('HDEL', record, 'owner', 'leaseUntil')
redis.call('PEXPIRE', record, ARGV[10])
if redis.call('HGET', KEYS[4], vm) == ARGV[9] then redis.call('HDEL', KEYS[4], vm) end
redis.call('ZREM', KEYS[6], ARGV[9])
redis.call('ZREM', KEYS[7], ARGV[9])
return 'ok'
`;

/**
 * Ends a migration without moving the VM. Does nothing when another owner took the record over.
 * KEYS: record, vm:migration, link:source, link:target
 * ARGV: owner, vmId, migrationId, state (failed|cancelled), errorJson, recordTtlMs
 * -> 1 | 0
 */
const RELEASE = `${NOW}
local record = KEYS[1]
if redis.call('HGET', record, 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', record, 'state', ARGV[4], 'error', ARGV[5], 'finishedAt', string.format('%d', now))
redis.call('HDEL', record, 'owner', 'leaseUntil')
redis.call('PEXPIRE', record, ARGV[6])
if redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[3] then redis.call('HDEL', KEYS[2], ARGV[2]) end
redis.call('ZREM', KEYS[3], ARGV[3])
redis.call('ZREM', KEYS[4], ARGV[3])
return 1
`;

/**
 * An HA restart: the VM of a failed host starts on the target, once per restart id. The record is
 * a migration record (state succeeded, kind restart), so a repeated call returns the first result.
 * KEYS: record, vm:host, vm:running, vm:migration, net:mac, vm:datastore
 * ARGV: migrationId, vmId, failedHost, target, resultJson, mac, recordTtlMs, prefix, datastoreToRegister
 * -> {'done', resultJson} | {'vm-busy', otherMigrationId} | {'elsewhere', host} | {'restarted', resultJson}
 */
const RESTART = `${NOW}${LIVE}
local record, hosts, power, current, macs = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, vm, failed, target = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('HGET', record, 'state') == 'succeeded' then return {'done', redis.call('HGET', record, 'result')} end
local other = redis.call('HGET', current, vm)
if other and other ~= id and live(ARGV[8] .. 'migration:' .. other) then return {'vm-busy', other} end
redis.call('HSETNX', hosts, vm, failed)
if ARGV[9] ~= '' then redis.call('HSETNX', KEYS[6], vm, ARGV[9]) end
local host = redis.call('HGET', hosts, vm)
if host ~= failed and host ~= target then return {'elsewhere', host} end
redis.call('HSET', hosts, vm, target)
redis.call('HSET', power, vm, '1')
redis.call('HSET', macs, ARGV[6], target)
redis.call('DEL', record)
redis.call('HSET', record, 'state', 'succeeded', 'vmId', vm, 'kind', 'restart', 'source', failed, 'target', target,
  'result', ARGV[5], 'startedAt', string.format('%d', now), 'finishedAt', string.format('%d', now))
redis.call('PEXPIRE', record, ARGV[7])
return {'restarted', ARGV[5]}
`;

/**
 * KEYS: vm:host, vm:running, vm:datastore, vm:migration   ARGV: vmId, prefix
 * -> {host or '', running (1|0|''), datastore or '', id of a live migration or ''}
 */
const INSPECT = `${NOW}${LIVE}
local vm = ARGV[1]
local migration = redis.call('HGET', KEYS[4], vm)
if not (migration and live(ARGV[2] .. 'migration:' .. migration)) then migration = '' end
return {redis.call('HGET', KEYS[1], vm) or '', redis.call('HGET', KEYS[2], vm) or '',
  redis.call('HGET', KEYS[3], vm) or '', migration}
`;

class LuaScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** EVALSHA, loading the script on the first NOSCRIPT (a restarted or flushed Redis). */
  async run(redis: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

export const WORLD_SCRIPTS = {
  begin: new LuaScript(BEGIN),
  heartbeat: new LuaScript(HEARTBEAT),
  commit: new LuaScript(COMMIT),
  release: new LuaScript(RELEASE),
  inspect: new LuaScript(INSPECT),
  restart: new LuaScript(RESTART),
};

/** The Redis keys of one simulated world. */
export class WorldKeys {
  readonly hosts: string;
  readonly running: string;
  readonly datastores: string;
  readonly currentMigration: string;
  readonly attempts: string;
  readonly macs: string;

  constructor(readonly prefix: string) {
    this.hosts = `${prefix}vm:host`;
    this.running = `${prefix}vm:running`;
    this.datastores = `${prefix}vm:datastore`;
    this.currentMigration = `${prefix}vm:migration`;
    this.attempts = `${prefix}vm:attempts`;
    this.macs = `${prefix}net:mac`;
  }

  migration(id: string): string {
    return `${this.prefix}migration:${id}`;
  }

  link(hostId: string): string {
    return `${this.prefix}link:${hostId}`;
  }
}
