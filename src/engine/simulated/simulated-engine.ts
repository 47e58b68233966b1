import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { macAddressFor } from '../mac-address.js';
import {
  MigrationCancelledError,
  MigrationEngineError,
  type MigrateOptions,
  type MigrationEngine,
  type MigrationProgress,
  type MigrationRequest,
  type MigrationResult,
  type PrecheckResult,
  type RestartRequest,
  type RestartResult,
  restartRequestProblem,
  type VmLocation,
  type VmPlacement,
} from '../migration-engine.js';
import { linkShareMbps } from '../link-share.js';
import { failsByRate, NO_FAULTS, parseFaultSpec, type FaultSpec } from './fault-spec.js';
import {
  NONCONVERGING_DIRTY_RATE_MBPS,
  PRECOPY_CONSTANTS,
  PrecopyMigration,
  type PrecopyConstants,
} from './precopy-model.js';
import { WORLD_SCRIPTS, WorldKeys } from './world-scripts.js';

export interface SimulatedEngineOptions {
  /** The caller's connection; the engine never closes it. */
  redis: Redis;
  /** Prefix of every key of this simulated world (default `ballast:sim:`). */
  keyPrefix?: string;
  /** Wall seconds per simulated second: 1 real time, 0.001 a thousand times faster, 0 no waiting at all. */
  timeScale?: number;
  /** Simulated time between two looks at the links (default 100 ms). */
  tickMs?: number;
  /** Downtime limit for requests that give none (default 300 ms). */
  downtimeLimitMs?: number;
  /** Migration link of hosts that do not give one (default 10,000 Mb/s). */
  defaultBandwidthMbps?: number;
  /** Which migrations fail: a FaultSpec or its text (see parseFaultSpec). */
  faults?: FaultSpec | string;
  /** Wall time a migration stays live without a heartbeat (default 10 s; at least two ticks of wall time). */
  leaseMs?: number;
  /** How long migration records are kept for repeated calls (default 7 days). */
  recordTtlMs?: number;
  /** Overrides of the pre-copy model's constants. */
  model?: Partial<PrecopyConstants>;
  /** Simulated boot of a restarted guest: a fixed part plus a part per GB of memory (default 15 s + 250 ms/GB). */
  bootBaseMs?: number;
  bootMsPerGb?: number;
}

export type SimulatedFailureCode =
  | 'invalid-request'
  | 'in-progress'
  | 'vm-busy'
  | 'vm-not-on-source'
  | 'vm-not-on-datastore'
  | 'target-refused'
  | 'injected'
  | 'transient'
  | 'not-converged'
  | 'lease-lost'
  | 'engine-closed'
  | 'engine-unavailable';

const DEFAULT_KEY_PREFIX = 'ballast:sim:';
const DEFAULT_TICK_MS = 100;

/**
 * The shortest lease that lets a live migration be renewed in time: it must cover two ticks of wall
 * time (a tick of simulated time lasts `tickMs x timeScale` ms of wall time).
 */
export function minimumLeaseMs(timeScale: number, tickMs = DEFAULT_TICK_MS): number {
  return 2 * tickMs * timeScale;
}
const DEFAULT_LEASE_MS = 10_000;
const DEFAULT_RECORD_TTL_MS = 7 * 24 * 3600 * 1000;
const DEFAULT_BOOT_BASE_MS = 15_000;
const DEFAULT_BOOT_MS_PER_GB = 250;

interface Started {
  attempt: number;
  running: boolean;
  /** Migrations already sending over the source and target links. */
  onSourceLink: number;
  onTargetLink: number;
}

interface Run {
  request: MigrationRequest;
  owner: string;
  record: string;
  sourceLink: string;
  targetLink: string;
  sourceMbps: number;
  targetMbps: number;
  signal?: AbortSignal;
  onProgress?: MigrateOptions['onProgress'];
  committed: MigrationResult | null;
  /** The bytes of the last progress reported, so that a tick that moved none reports nothing. */
  reportedBytes: number;
}

function fail(code: SimulatedFailureCode, message: string, transient = false): MigrationEngineError {
  return new MigrationEngineError(message, transient, code);
}

function optionNumber(value: number | undefined, fallback: number, field: string, min: number, inclusive: boolean): number {
  const resolved = value ?? fallback;
  if (!Number.isFinite(resolved) || resolved < min || (!inclusive && resolved === min)) {
    throw new RangeError(`SimulatedEngine option ${field} must be a number ${inclusive ? '>=' : '>'} ${min}: ${value}`);
  }
  return resolved;
}

function normalizeMac(mac: string): string {
  return mac.trim().toLowerCase().replaceAll('-', ':');
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/**
 * The `simulated` migration engine: a world of hosts, VMs and migration links kept in Redis, where
 * migrations follow the pre-copy model (precopy-model.ts) in simulated time. Every process using the
 * same Redis and prefix sees one world: where each VM runs, which migrations are in flight, who is
 * sending over which link (so concurrent migrations share bandwidth across processes).
 */
export class SimulatedEngine implements MigrationEngine {
  readonly name = 'simulated' as const;
  readonly timeScale: number;
  readonly tickMs: number;
  readonly faults: FaultSpec;
  private readonly redis: Redis;
  private readonly keys: WorldKeys;
  private readonly leaseMs: number;
  private readonly recordTtlMs: number;
  private readonly constants: PrecopyConstants;
  private readonly bootBaseMs: number;
  private readonly bootMsPerGb: number;
  private readonly closing = new AbortController();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(options: SimulatedEngineOptions) {
    if (!options?.redis) throw new TypeError('SimulatedEngine option redis is required');
    this.redis = options.redis;
    const prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    if (typeof prefix !== 'string' || prefix === '') throw new RangeError('SimulatedEngine option keyPrefix must be a non-empty string');
    this.keys = new WorldKeys(prefix);
    this.timeScale = optionNumber(options.timeScale, 1, 'timeScale', 0, true);
    this.tickMs = optionNumber(options.tickMs, DEFAULT_TICK_MS, 'tickMs', 0, false);
    this.leaseMs = optionNumber(options.leaseMs, DEFAULT_LEASE_MS, 'leaseMs', 0, false);
    if (this.leaseMs < minimumLeaseMs(this.timeScale, this.tickMs)) {
      throw new RangeError(
        `SimulatedEngine option leaseMs (${this.leaseMs}) must cover two ticks of wall time (${minimumLeaseMs(this.timeScale, this.tickMs)} ms)`,
      );
    }
    this.recordTtlMs = Math.round(optionNumber(options.recordTtlMs, DEFAULT_RECORD_TTL_MS, 'recordTtlMs', 1, true));
    const model = { ...PRECOPY_CONSTANTS, ...options.model };
    this.constants = {
      ...model,
      defaultDowntimeLimitMs: optionNumber(options.downtimeLimitMs, model.defaultDowntimeLimitMs, 'downtimeLimitMs', 0, false),
      defaultBandwidthMbps: optionNumber(options.defaultBandwidthMbps, model.defaultBandwidthMbps, 'defaultBandwidthMbps', 0, false),
    };
    this.faults = typeof options.faults === 'string' ? parseFaultSpec(options.faults) : (options.faults ?? NO_FAULTS);
    this.bootBaseMs = optionNumber(options.bootBaseMs, DEFAULT_BOOT_BASE_MS, 'bootBaseMs', 0, true);
    this.bootMsPerGb = optionNumber(options.bootMsPerGb, DEFAULT_BOOT_MS_PER_GB, 'bootMsPerGb', 0, true);
  }

  async register(placements: VmPlacement[]): Promise<void> {
    placements.forEach((p, i) => {
      if (!p?.vm?.id) throw new RangeError(`placements[${i}].vm.id must be a non-empty string`);
      if (!p.hostId) throw new RangeError(`placements[${i}].hostId must be a non-empty string`);
    });
    if (placements.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const { vm, hostId, running } of placements) {
      pipeline.hsetnx(this.keys.hosts, vm.id, hostId);
      pipeline.hsetnx(this.keys.running, vm.id, running ? '1' : '0');
      if (vm.datastores?.[0]) pipeline.hsetnx(this.keys.datastores, vm.id, vm.datastores[0]);
    }
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([error]) => error);
    if (failed) throw failed[0];
  }

  async precheck(request: MigrationRequest): Promise<PrecheckResult> {
    try {
      this.validate(request);
    } catch (error) {
      return { ok: false, reason: (error as Error).message };
    }
    const refused = this.refusedTarget(request);
    if (refused) return { ok: false, reason: refused };
    const { vm, source } = request;
    const [host, , datastore, migration] = await this.inspect(vm.id);
    if (migration !== '') return { ok: false, reason: `VM ${vm.id} is being migrated (migration ${migration})` };
    if (host !== '' && host !== source.id) return { ok: false, reason: `VM ${vm.id} runs on ${host}, not on ${source.id}` };
    if (request.kind === 'storage' && request.sourceDatastoreId && datastore !== '' && datastore !== request.sourceDatastoreId) {
      return { ok: false, reason: `VM ${vm.id}'s disks are on ${datastore}, not on ${request.sourceDatastoreId}` };
    }
    return { ok: true };
  }

  /** Also says which datastore the VM's disks are on (to reconcile a storage migration). */
  async locate(vmId: string): Promise<VmLocation & { datastoreId?: string }> {
    const [host, running, datastore, migration] = await this.inspect(vmId);
    return {
      hostId: host === '' ? null : host,
      running: running === '1',
      migrating: migration !== '',
      ...(datastore !== '' && { datastoreId: datastore }),
    };
  }

  async migrate(request: MigrationRequest, options: MigrateOptions = {}): Promise<MigrationResult> {
    if (this.closing.signal.aborted) throw fail('engine-closed', 'the simulated engine is closed', true);
    this.validate(request);
    const run = this.run(request, options);
    this.inFlight.add(run);
    try {
      return await run;
    } finally {
      this.inFlight.delete(run);
    }
  }

  /**
   * Starts the VM on the target at once in the world (shared storage: its disks are already there),
   * then waits out the simulated boot. A target the fault spec refuses refuses restarts too.
   */
  async restart(request: RestartRequest): Promise<RestartResult> {
    if (this.closing.signal.aborted) throw fail('engine-closed', 'the simulated engine is closed', true);
    const invalid = restartRequestProblem(request);
    if (invalid) throw fail('invalid-request', `invalid restart request: ${invalid}`);
    const { migrationId, vm, failedHost, target } = request;
    if (this.faults.refusingTargets.has(target.id)) {
      throw fail('target-refused', `${target.id} refuses to start VMs (fault injection target:${target.id}); ${vm.id} stays down`);
    }
    const result: RestartResult = {
      hostId: target.id,
      running: true,
      bootTimeMs: Math.round(this.bootBaseMs + (vm.memoryMb / 1024) * this.bootMsPerGb),
    };
    const k = this.keys;
    let answer: [string, string];
    try {
      answer = (await WORLD_SCRIPTS.restart.run(
        this.redis,
        [k.migration(migrationId), k.hosts, k.running, k.currentMigration, k.macs, k.datastores],
        [migrationId, vm.id, failedHost.id, target.id, JSON.stringify(result), macAddressFor(vm.id), this.recordTtlMs, k.prefix, vm.datastores?.[0] ?? ''],
      )) as [string, string];
    } catch (error) {
      const failure = fail('engine-unavailable', `restart ${migrationId} of ${vm.id} interrupted: ${(error as Error).message}`, true);
      failure.cause = error;
      throw failure;
    }
    switch (answer[0]) {
      case 'done':
        return JSON.parse(answer[1]) as RestartResult;
      case 'vm-busy':
        throw fail('vm-busy', `VM ${vm.id} is being migrated by migration ${answer[1]}`, true);
      case 'elsewhere':
        throw fail('vm-not-on-source', `VM ${vm.id} runs on ${answer[1]}, not on the failed host ${failedHost.id}: not started again`);
    }
    const restarted = JSON.parse(answer[1]) as RestartResult;
    await this.sleep(restarted.bootTimeMs * this.timeScale);
    return restarted;
  }

  /** Stops every timer; migrations still running end with a transient `engine-closed` error, their VMs on the source. */
  async close(): Promise<void> {
    this.closing.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  /** Where the simulated network last learned this MAC address (by a migration's announce), or null. */
  async networkLocation(macAddress: string): Promise<string | null> {
    return this.redis.hget(this.keys.macs, normalizeMac(macAddress));
  }

  /** Deletes this world (every key under the prefix): for tests and benchmarks. */
  async resetWorld(): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.keys.prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1000);
      if (keys.length > 0) await this.redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  }

  private async inspect(vmId: string): Promise<[string, string, string, string]> {
    const k = this.keys;
    return (await WORLD_SCRIPTS.inspect.run(this.redis, [k.hosts, k.running, k.datastores, k.currentMigration], [vmId, k.prefix])) as [
      string,
      string,
      string,
      string,
    ];
  }

  private async run(request: MigrationRequest, options: MigrateOptions): Promise<MigrationResult> {
    if (options.signal?.aborted) throw new MigrationCancelledError();
    const { kind, source, target, migrationId, vm } = request;
    // A storage migration copies over its own host's link: both ends of it are the source.
    const otherEnd = kind === 'compute' ? target : source;
    const run: Run = {
      request,
      owner: randomUUID(),
      record: this.keys.migration(migrationId),
      sourceLink: this.keys.link(source.id),
      targetLink: this.keys.link(otherEnd.id),
      sourceMbps: source.migrationBandwidthMbps ?? this.constants.defaultBandwidthMbps,
      targetMbps: otherEnd.migrationBandwidthMbps ?? this.constants.defaultBandwidthMbps,
      signal: options.signal,
      onProgress: options.onProgress,
      committed: null,
      reportedBytes: -1,
    };
    const begun = await this.begin(run, otherEnd.id);
    if ('recorded' in begun) return begun.recorded;
    let model: PrecopyMigration | null = null;
    try {
      const refused = this.refusedTarget(request);
      if (refused) throw fail('target-refused', refused);
      model = new PrecopyMigration(
        {
          kind,
          memoryMb: vm.memoryMb,
          memoryDirtyRateMbps: this.faults.nonConvergingVms.has(vm.id) ? NONCONVERGING_DIRTY_RATE_MBPS : vm.memoryDirtyRateMbps,
          diskMb: vm.diskMb,
          downtimeLimitMs: request.downtimeLimitMs || undefined,
          running: begun.running,
        },
        this.constants,
      );
      await this.drive(run, model, begun);
      return run.committed!;
    } catch (error) {
      const failure = error instanceof MigrationEngineError ? error : this.interrupted(run, error);
      if (!run.committed) await this.release(run, model, failure);
      throw failure;
    }
  }

  /** Records the migration as running under this process's lease, or says why it cannot run. */
  private async begin(run: Run, targetId: string): Promise<{ recorded: MigrationResult } | Started> {
    const { migrationId, vm, source, kind } = run.request;
    const k = this.keys;
    let answer: [string, ...(string | number)[]];
    try {
      answer = (await WORLD_SCRIPTS.begin.run(
        this.redis,
        [run.record, k.hosts, k.running, k.datastores, k.currentMigration, k.attempts, run.sourceLink, run.targetLink],
        [
          migrationId,
          vm.id,
          kind,
          source.id,
          targetId,
          run.owner,
          this.leaseMs,
          run.request.sourceDatastoreId ?? '',
          vm.datastores?.[0] ?? '',
          k.prefix,
          this.recordTtlMs,
        ],
      )) as typeof answer;
    } catch (error) {
      throw this.interrupted(run, error);
    }
    switch (answer[0]) {
      case 'done':
        return { recorded: JSON.parse(String(answer[1])) as MigrationResult };
      case 'busy':
        throw fail('in-progress', `migration ${migrationId} is already being driven by a live process`, true);
      case 'vm-busy':
        throw fail('vm-busy', `VM ${vm.id} is being migrated by migration ${answer[1]}`, true);
      case 'not-on-source':
        throw fail('vm-not-on-source', `VM ${vm.id} runs on ${answer[1]}, not on ${source.id}: nothing moved`);
      case 'not-on-datastore':
        throw fail(
          'vm-not-on-datastore',
          `VM ${vm.id}'s disks are on ${answer[1] || 'no known datastore'}, not on ${run.request.sourceDatastoreId}`,
        );
    }
    const [, attempt, running, onSourceLink, onTargetLink] = answer as [string, number, string, number, number];
    return { attempt: Number(attempt), running: running === '1', onSourceLink, onTargetLink };
  }

  /** Runs the model to its end: at once with timeScale 0, otherwise tick by tick, re-reading the links each tick. */
  private async drive(run: Run, model: PrecopyMigration, begun: Started): Promise<void> {
    const { migrationId, vm, source } = run.request;
    const injected = this.injectedFailure(run.request, begun.attempt);
    await this.emit(run, model.progress());
    if (this.timeScale === 0) {
      await this.advance(run, model, Infinity, this.share(run, begun.onSourceLink, begun.onTargetLink, false), injected);
    }
    while (model.status === 'running') {
      this.throwIfStopped(run, model);
      const counts = (await WORLD_SCRIPTS.heartbeat.run(
        this.redis,
        [run.record, run.sourceLink, run.targetLink],
        [run.owner, this.leaseMs, model.usesLink ? 1 : 0, migrationId],
      )) as number[];
      if (counts[0] === -1) {
        throw fail('lease-lost', `migration ${migrationId} lost its lease (this process stalled); ${vm.id} was not moved by it`, true);
      }
      const share = this.share(run, counts[0], counts[1], model.usesLink);
      await this.advance(run, model, this.tickMs, share, injected);
      if (model.status !== 'running') break;
      // The bytes moved within a pass (or a mirror) are reported as they move, not only at its end.
      if (model.usesLink && model.progress().transferredBytes !== run.reportedBytes) await this.emit(run, { ...model.progress(), bandwidthMbps: share });
      await this.sleep(this.tickMs * this.timeScale, run.signal);
    }
    if (model.failure) {
      throw fail(model.failure.code, `migration ${migrationId} of ${vm.id} failed: ${model.failure.message}; the VM stays on ${source.id}`);
    }
  }

  /** Steps the model through `ms` of simulated time; commits at the switchover; fails where a fault says so. */
  private async advance(run: Run, model: PrecopyMigration, ms: number, bandwidthMbps: number, injected: MigrationEngineError | null) {
    let left = ms;
    while (model.status === 'running') {
      const { usedMs, event } = model.step(left, bandwidthMbps);
      left -= usedMs;
      if (!event) break;
      if (model.switchedOver && !run.committed) await this.commit(run, model);
      if (injected && !run.committed && model.completedPasses >= 1) throw injected;
      await this.emit(run, model.usesLink ? { ...event, bandwidthMbps } : event);
      this.throwIfStopped(run, model);
    }
  }

  private async commit(run: Run, model: PrecopyMigration): Promise<void> {
    const { request } = run;
    const { migrationId, vm, source, target, kind } = request;
    const outcome = model.outcome();
    const mac = macAddressFor(vm.id);
    const result: MigrationResult = {
      hostId: kind === 'compute' ? target.id : source.id,
      ...(kind === 'storage' && { datastoreId: request.targetDatastoreId }),
      totalTimeMs: round3(outcome.totalTimeMs),
      downtimeMs: round3(outcome.downtimeMs),
      downtimeLimitMs: model.downtimeLimitMs,
      transferredBytes: outcome.transferredBytes,
      precopyIterations: outcome.precopyIterations,
      // The simulated guest's NIC has the MAC derived from its id, on the source and on the target alike.
      macPreserved: kind === 'storage' || normalizeMac(vm.macAddress) === mac,
      networkNotified: outcome.networkNotified,
      maxThrottle: outcome.maxThrottle,
    };
    const k = this.keys;
    const answer = (await WORLD_SCRIPTS.commit.run(
      this.redis,
      [run.record, k.hosts, k.datastores, k.currentMigration, k.macs, run.sourceLink, run.targetLink],
      [
        run.owner,
        vm.id,
        kind,
        source.id,
        target.id,
        request.targetDatastoreId ?? '',
        JSON.stringify(result),
        mac,
        migrationId,
        this.recordTtlMs,
      ],
    )) as string;
    if (answer === 'lost') {
      throw fail('lease-lost', `migration ${migrationId} lost its lease before the switchover; ${vm.id} was not moved by it`, true);
    }
    if (answer !== 'ok') throw fail('vm-not-on-source', `VM ${vm.id} was moved elsewhere (${answer}) during migration ${migrationId}`);
    run.committed = result;
  }

  private async release(run: Run, model: PrecopyMigration | null, failure: MigrationEngineError): Promise<void> {
    const progress = model?.progress();
    const error = {
      message: failure.message,
      code: failure.code,
      transient: failure.transient,
      ...(progress && { phase: progress.phase, iteration: progress.iteration, transferredBytes: progress.transferredBytes }),
      ...(model && { elapsedMs: round3(model.elapsedMs) }),
    };
    try {
      await WORLD_SCRIPTS.release.run(this.redis, [run.record, this.keys.currentMigration, run.sourceLink, run.targetLink], [
        run.owner,
        run.request.vm.id,
        run.request.migrationId,
        failure instanceof MigrationCancelledError ? 'cancelled' : 'failed',
        JSON.stringify(error),
        this.recordTtlMs,
      ]);
    } catch {
      // Redis is gone: the lease runs out on its own and the VM never left the source.
    }
  }

  private interrupted(run: Run, cause: unknown): MigrationEngineError {
    const error = fail(
      'engine-unavailable',
      `migration ${run.request.migrationId} interrupted: ${cause instanceof Error ? cause.message : String(cause)}; ${run.request.vm.id} stays on ${run.request.source.id}`,
      true,
    );
    error.cause = cause;
    return error;
  }

  private async emit(run: Run, progress: MigrationProgress): Promise<void> {
    run.reportedBytes = progress.transferredBytes;
    await run.onProgress?.(progress);
  }

  /** Cancellation and shutdown take effect before the switchover; once the guest is paused, the move completes. */
  private throwIfStopped(run: Run, model: PrecopyMigration): void {
    if (model.phase === 'switchover' || model.switchedOver) return;
    const { source, vm } = run.request;
    if (run.signal?.aborted) {
      throw new MigrationCancelledError(`migration cancelled during ${model.phase}; ${vm.id} stays on ${source.id}`);
    }
    if (this.closing.signal.aborted) {
      throw fail('engine-closed', `the simulated engine closed during ${model.phase}; ${vm.id} stays on ${source.id}`, true);
    }
  }

  private share(run: Run, onSourceLink: number, onTargetLink: number, counted: boolean): number {
    const join = counted ? 0 : 1;
    return linkShareMbps(run.sourceMbps, onSourceLink + join, run.targetMbps, onTargetLink + join);
  }

  private refusedTarget(request: MigrationRequest): string | null {
    const target = request.kind === 'compute' ? request.target.id : request.targetDatastoreId;
    if (target && this.faults.refusingTargets.has(target)) {
      return `${target} refuses incoming migrations (fault injection target:${target})`;
    }
    return null;
  }

  private injectedFailure(request: MigrationRequest, attempt: number): MigrationEngineError | null {
    const { vm, source, migrationId } = request;
    const where = `the migration link dropped after the first pre-copy pass; ${vm.id} stays on ${source.id}`;
    if (this.faults.failingVms.has(vm.id)) return fail('injected', `injected fault vm:${vm.id}: ${where}`);
    const transientAttempts = this.faults.transientVms.get(vm.id) ?? 0;
    if (attempt <= transientAttempts) {
      return fail('transient', `injected transient fault transient:${vm.id}:${transientAttempts} (attempt ${attempt}): ${where}`, true);
    }
    if (failsByRate(migrationId, this.faults.failureRate)) {
      return fail('injected', `injected fault rate:${this.faults.failureRate} picked migration ${migrationId}: ${where}`);
    }
    return null;
  }

  private validate(request: MigrationRequest): void {
    const bad = (field: string, reason: string) => fail('invalid-request', `invalid migration request: ${field} ${reason}`);
    const positive = (value: number | undefined, field: string) => {
      if (value !== undefined && (!Number.isFinite(value) || value <= 0)) throw bad(field, `must be a positive number: ${value}`);
    };
    if (!request || typeof request !== 'object') throw bad('request', 'is missing');
    if (!request.migrationId) throw bad('migrationId', 'is empty');
    if (request.kind !== 'compute' && request.kind !== 'storage') throw bad('kind', `must be compute or storage: ${String(request.kind)}`);
    if (!request.vm?.id) throw bad('vm.id', 'is empty');
    if (!request.source?.id) throw bad('source.id', 'is empty');
    if (!request.target?.id) throw bad('target.id', 'is empty');
    if (!(Number.isFinite(request.vm.memoryMb) && request.vm.memoryMb > 0)) throw bad('vm.memoryMb', `must be a positive number: ${request.vm.memoryMb}`);
    const dirty = request.vm.memoryDirtyRateMbps;
    if (dirty !== undefined && !(Number.isFinite(dirty) && dirty >= 0)) throw bad('vm.memoryDirtyRateMbps', `must be zero or positive: ${dirty}`);
    positive(request.vm.diskMb, 'vm.diskMb');
    positive(request.source.migrationBandwidthMbps, 'source.migrationBandwidthMbps');
    positive(request.target.migrationBandwidthMbps, 'target.migrationBandwidthMbps');
    if (request.downtimeLimitMs) positive(request.downtimeLimitMs, 'downtimeLimitMs');
    if (request.kind === 'compute' && request.target.id === request.source.id) {
      throw bad('target.id', `is the source host ${request.source.id}`);
    }
    if (request.kind === 'storage') {
      if (!request.targetDatastoreId) throw bad('targetDatastoreId', 'is required for a storage migration');
      if (request.targetDatastoreId === request.sourceDatastoreId) throw bad('targetDatastoreId', `is the source datastore ${request.sourceDatastoreId}`);
    }
  }

  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const signals = [this.closing.signal, ...(signal ? [signal] : [])];
      const wake = () => {
        if (ms < 1) clearImmediate(handle as NodeJS.Immediate);
        else clearTimeout(handle as NodeJS.Timeout);
        for (const s of signals) s.removeEventListener('abort', wake);
        resolve();
      };
      // Below a millisecond a timer would round up to one: yield to the event loop instead.
      const handle = ms < 1 ? setImmediate(wake) : setTimeout(wake, ms);
      for (const s of signals) {
        if (s.aborted) return wake();
        s.addEventListener('abort', wake, { once: true });
      }
    });
  }
}
