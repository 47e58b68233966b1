import { basename, dirname, join } from 'node:path';
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
  type VmLocation,
  type VmPlacement,
  requestProblem,
  restartRequestProblem,
} from '../migration-engine.js';
import { DomainDefinitions } from './domain-definitions.js';
import { escapeXml, parseDomainXml, poolPath, volumeMode, type DomainDescription, type DomainDisk } from './domain-xml.js';
import { isLocalUri, type HostConnection, type HostDirectory } from './host-connections.js';
import { batchFailure, LibvirtError, numberField, parseFields, runWithDocument, Virsh } from './virsh.js';

export interface LibvirtEngineOptions {
  hosts: HostDirectory;
  virsh?: Virsh;
  /** How often the job info is read for progress (default 500 ms). */
  pollIntervalMs?: number;
  /** A migration still not done after this is aborted and fails for good (default 10 minutes). */
  maxMigrationTimeMs?: number;
  /** A host's migration link when it does not say (default 10,000 Mb/s). */
  defaultBandwidthMbps?: number;
}

/** libvirt's own account of a finished job (`domjobinfo --completed --rawstats`). */
export interface LibvirtJobFigures {
  totalTimeMs: number;
  downtimeMs: number;
  transferredBytes: number;
  iterations: number;
}

/** What the target (and the source) say of a domain that has just arrived. */
interface Arrival {
  /** Its description on the target. */
  xml: string;
  /** `list --all --persistent --uuid` of the target. */
  persistentIds: string | null;
  /** `domjobinfo --completed --rawstats` on the target, when asked. */
  jobText: string | null;
  sourceState: DomainState;
  /** Its persistent definition (`dumpxml --inactive --migratable`), when read with it. */
  migratableXml?: string | null;
}

/** What `virsh domstate` says, or null when the host does not have the domain. */
type DomainState = 'running' | 'paused' | 'shut off' | 'other' | null;

/** domjobinfo's "Job type" for a job in progress (VIR_DOMAIN_JOB_UNBOUNDED). */
const JOB_RUNNING = '2';
/** How often a migration's target daemon is asked whether it still answers (two misses in a row abort the job). */
const TARGET_CHECK_MS = 2_000;
/** How long a restart waits for the failed host's daemon before taking it for gone. */
const RESTART_PROBE_MS = 5_000;
/** How long a precheck's reading of the source stands in for the migration's own (the worker migrates right after). */
const PRECHECK_FRESH_MS = 10_000;
const NO_DOMAIN = /failed to get domain|Domain not found|no domain with matching/i;

/**
 * The `libvirt` migration engine: live migrations between real libvirt hosts, each reached through
 * its `connectionUri`. A compute migration is `virsh migrate --live --persistent --undefinesource
 * --auto-converge` from the source's connection to the target's, with the link's bandwidth and the
 * downtime limit set on the job; progress is libvirt's job info. A storage migration is a block
 * copy of the running domain's disk into another pool or directory, pivoted once in sync. libvirt
 * keeps each job's state itself, so where a VM runs is always asked of the hosts, never remembered.
 */
export class LibvirtEngine implements MigrationEngine {
  readonly name = 'libvirt' as const;
  private readonly hosts: HostDirectory;
  private readonly virsh: Virsh;
  private readonly definitions: DomainDefinitions;
  private readonly pollIntervalMs: number;
  private readonly maxMigrationTimeMs: number;
  private readonly defaultBandwidthMbps: number;
  private readonly inFlight = new Map<string, Promise<MigrationResult>>();
  private readonly restarts = new Map<string, Promise<RestartResult>>();
  private readonly saves = new Set<Promise<void>>();
  private readonly prechecked = new Map<string, { at: number; description: DomainDescription }>();
  private closed = false;

  constructor(options: LibvirtEngineOptions) {
    this.hosts = options.hosts;
    this.virsh = options.virsh ?? new Virsh();
    this.definitions = new DomainDefinitions(this.virsh);
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
    this.maxMigrationTimeMs = options.maxMigrationTimeMs ?? 10 * 60_000;
    this.defaultBandwidthMbps = options.defaultBandwidthMbps ?? 10_000;
  }

  /** libvirt hosts already run their domains (discovery brings them into the inventory): nothing to start. */
  async register(placements: VmPlacement[]): Promise<void> {
    this.assertOpen();
    void placements;
  }

  async precheck(request: MigrationRequest): Promise<PrecheckResult> {
    this.assertOpen();
    try {
      const invalid = requestProblem(request);
      if (invalid) return { ok: false, reason: invalid };
      const source = await this.connectionOf(request.source.id);
      if (request.kind === 'compute') {
        const target = await this.connectionOf(request.target.id);
        // Every question in one virsh process: the precheck is on every migration's path.
        const { state, busy, description, there } = await this.sourceFacts(source, request.vm.id, target);
        if (state !== 'running') return { ok: false, reason: `VM ${request.vm.id} is ${state ?? 'not defined'} on host ${source.hostId}, not running` };
        if (busy) return { ok: false, reason: `VM ${request.vm.id} has a libvirt job in progress on host ${source.hostId}` };
        if (there === 'running' || there === 'paused') return { ok: false, reason: `VM ${request.vm.id} is already ${there} on host ${target.hostId}` };
        if (description) this.rememberPrecheck(request.migrationId, description);
        return { ok: true };
      }
      const state = await this.domainState(source, request.vm.id);
      if (state !== 'running') return { ok: false, reason: `VM ${request.vm.id} is ${state ?? 'not defined'} on host ${source.hostId}, not running` };
      if (await this.jobRunning(source, request.vm.id)) return { ok: false, reason: `VM ${request.vm.id} has a libvirt job in progress on host ${source.hostId}` };
      const domain = await this.describe(source, request.vm.id);
      const disk = await this.diskToMove(source, domain, request.sourceDatastoreId);
      if (!disk) return { ok: false, reason: `VM ${request.vm.id} has no disk on datastore ${request.sourceDatastoreId ?? '(any)'} on host ${source.hostId}` };
      if ((await this.datastoreOf(source, disk.path!)) === request.targetDatastoreId) {
        return { ok: false, reason: `VM ${request.vm.id}'s disk is already on datastore ${request.targetDatastoreId}` };
      }
      await this.datastoreDirectory(source, request.targetDatastoreId!);
      return { ok: true };
    } catch (error) {
      return { ok: false, reason: engineError(error).message };
    }
  }

  migrate(request: MigrationRequest, options: MigrateOptions = {}): Promise<MigrationResult> {
    try {
      this.assertOpen();
      const invalid = requestProblem(request);
      if (invalid) throw new MigrationEngineError(invalid, false, 'invalid-request');
    } catch (error) {
      return Promise.reject(error);
    }
    const running = this.inFlight.get(request.migrationId);
    if (running) return running;
    const run = (request.kind === 'compute' ? this.runCompute(request, options) : this.runStorage(request, options))
      .catch((error: unknown) => {
        throw engineError(error);
      })
      .finally(() => this.inFlight.delete(request.migrationId));
    this.inFlight.set(request.migrationId, run);
    return run;
  }

  /**
   * HA restart on shared storage: the domain is started from its disks on the target's daemon. Its
   * definition comes from the target (defined there already), the failed host (its daemon still
   * answers), or the copy kept in its datastore (see DomainDefinitions).
   * libvirt is the record of a repeated call: a domain running on the target is not started again;
   * one running anywhere else (the failed host included: it was never down) is refused.
   */
  restart(request: RestartRequest): Promise<RestartResult> {
    try {
      this.assertOpen();
      const invalid = restartRequestProblem(request);
      if (invalid) throw new MigrationEngineError(`invalid restart request: ${invalid}`, false, 'invalid-request');
    } catch (error) {
      return Promise.reject(error);
    }
    const running = this.restarts.get(request.migrationId);
    if (running) return running;
    const run = this.runRestart(request)
      .catch((error: unknown) => {
        throw engineError(error);
      })
      .finally(() => this.restarts.delete(request.migrationId));
    this.restarts.set(request.migrationId, run);
    return run;
  }

  private async runRestart(request: RestartRequest): Promise<RestartResult> {
    const vmId = request.vm.id;
    const target = await this.connectionOf(request.target.id);
    const failed = await this.hosts.connection(request.failedHost.id);
    const others = (await this.hosts.connections()).filter((c) => c.hostId !== target.hostId && c.hostId !== failed?.hostId);
    const [targetAnswer, there, elsewhere] = await Promise.all([
      this.domainState(target, vmId).catch((error: unknown) => error as Error),
      failed ? this.domainState(failed, vmId, RESTART_PROBE_MS).catch(() => 'unreachable' as const) : ('unreachable' as const),
      Promise.all(others.map(async (c) => ({ hostId: c.hostId, state: await this.domainState(c, vmId).catch(() => null) }))),
    ]);
    if (targetAnswer === 'running') return { hostId: target.hostId, running: true, bootTimeMs: 0 };
    const runningElsewhere = elsewhere.find((o) => o.state === 'running' || o.state === 'paused');
    if (runningElsewhere) throw new MigrationEngineError(`VM ${vmId} runs on host ${runningElsewhere.hostId}, not on the failed host ${request.failedHost.id}: not started again`, false, 'vm-not-on-source');
    if (there === 'running' || there === 'paused') throw new MigrationEngineError(`VM ${vmId} is ${there} on host ${request.failedHost.id}: it was never down, not started again`, false, 'vm-not-on-source');
    if (targetAnswer instanceof Error) throw targetAnswer;
    const here = targetAnswer;
    if (here === null) {
      const xml = (failed && there !== 'unreachable' && there !== null ? await this.call(failed, ['dumpxml', '--inactive', '--migratable', vmId]).catch(() => null) : null) ?? (await this.definitions.read(target, request.vm));
      if (!xml) {
        throw new MigrationEngineError(`no definition of VM ${vmId} to start on host ${target.hostId}: host ${request.failedHost.id} does not answer and its datastore ${request.vm.datastores[0] ?? '(none)'} holds no copy (Ballast keeps one for each domain discovery finds and after each migration)`, false, 'no-definition');
      }
      await runWithDocument(this.virsh, target.uri, ['define'], xml, { hostId: target.hostId });
    }
    const started = Date.now();
    await this.call(target, ['start', vmId]);
    const deadline = started + 60_000;
    while ((await this.domainState(target, vmId)) !== 'running') {
      if (Date.now() > deadline) throw new MigrationEngineError(`VM ${vmId} did not come up on host ${target.hostId} within 60 s`, true, 'transient');
      await sleep(100);
    }
    return { hostId: target.hostId, running: true, bootTimeMs: Date.now() - started };
  }

  /**
   * Asks every connected host. The host running the domain is where it is; a host with an outgoing
   * migration job is where it still is (the target's copy is paused until the switchover).
   */
  async locate(vmId: string): Promise<VmLocation> {
    this.assertOpen();
    const connections = await this.hosts.connections();
    const answers = await Promise.all(
      connections.map(async (connection) => {
        try {
          const state = await this.domainState(connection, vmId);
          const migrating = state === 'running' || state === 'paused' ? await this.jobRunning(connection, vmId) : false;
          return { connection, state, migrating, error: null };
        } catch (error) {
          return { connection, state: null, migrating: false, error: error as Error };
        }
      }),
    );
    const sending = answers.find((a) => a.state === 'running' && a.migrating);
    const running = answers.filter((a) => a.state === 'running');
    const migrating = answers.some((a) => a.migrating);
    const current = sending ?? running[0];
    if (current) return { hostId: current.connection.hostId, running: true, migrating, datastoreId: await this.firstDatastore(current.connection, vmId) };
    const unreachable = answers.filter((a) => a.error);
    if (unreachable.length > 0) {
      // The VM may well run on a host that did not answer: "nowhere" would be a guess.
      throw new MigrationEngineError(`cannot tell where VM ${vmId} runs: ${unreachable.map((a) => engineError(a.error).message).join('; ')}`, true, 'unreachable');
    }
    const defined = answers.find((a) => a.state !== null && a.state !== 'paused') ?? answers.find((a) => a.state !== null);
    return { hostId: defined?.connection.hostId ?? null, running: false, migrating };
  }

  /** Nothing to release but the migrations this engine still follows (libvirt carries on with them). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight.values(), ...this.restarts.values()]);
    await Promise.allSettled([...this.saves]);
  }

  /** libvirt's figures of the domain's last completed job on a host (read once: libvirt then forgets them). */
  async completedJob(connection: HostConnection, vmId: string): Promise<LibvirtJobFigures | null> {
    return jobFigures(await this.call(connection, ['domjobinfo', vmId, '--completed', '--rawstats']).catch(() => ''));
  }

  /**
   * What computeResult needs of a domain that arrived on the target, asked of both daemons at once.
   * Not dominfo: it refreshes the balloon figure through QEMU, waiting for the incoming job's end.
   */
  private async arrival(source: HostConnection, target: HostConnection, vmId: string, withFigures: boolean): Promise<Arrival> {
    const [batch, sourceState] = await Promise.all([
      this.virsh.batch(target.uri, [['dumpxml', vmId], ['list', '--all', '--persistent', '--uuid'], ...(withFigures ? [['domjobinfo', vmId, '--completed', '--rawstats']] : [])], { hostId: target.hostId }),
      this.domainState(source, vmId).catch(() => null),
    ]);
    const [xml, persistentIds, jobText] = batch.outputs;
    if (xml === null) throw batchFailure(target.uri, batch, target.hostId);
    return { xml, persistentIds, jobText: jobText ?? null, sourceState };
  }

  /**
   * The source's answers to "may this migration start?" from one virsh process: the domain's state
   * (null: not defined there), whether a job of it runs, and its description.
   */
  private async sourceFacts(
    connection: HostConnection,
    vmId: string,
    target?: HostConnection,
  ): Promise<{ state: DomainState; busy: boolean; description: DomainDescription | null; there: 'running' | 'paused' | null }> {
    // With a target: connected to it in the same process, whether the domain already runs there
    // (`uri` proves the connection; an empty list prints nothing).
    const onTarget = target ? [['connect', target.uri], ['uri'], ['list', '--uuid', '--state-running'], ['list', '--uuid', '--state-paused']] : [];
    const batch = await this.virsh.batch(connection.uri, [['domstate', vmId], ['domjobinfo', vmId, '--rawstats'], ['dumpxml', vmId], ...onTarget], { hostId: connection.hostId });
    const [stateText, jobText, xml, , targetUri, runningThere, pausedThere] = batch.outputs;
    if (stateText === null && !NO_DOMAIN.test(batch.errors)) throw batchFailure(connection.uri, batch, connection.hostId);
    const listed = (ids: string | null) => (ids ?? '').split('\n').some((id) => id.trim() === vmId);
    let there: 'running' | 'paused' | null = listed(runningThere) ? 'running' : listed(pausedThere) ? 'paused' : null;
    if (target && targetUri === null) {
      // The target did not answer this process: asked on its own, for libvirt's own words.
      const state = await this.domainState(target, vmId);
      there = state === 'running' || state === 'paused' ? state : null;
    }
    return {
      state: stateText === null ? null : stateOf(stateText),
      busy: parseFields(jobText ?? '', ':').get('Job type') === JOB_RUNNING,
      description: xml === null ? null : parseDomainXml(xml),
      there,
    };
  }

  // ---- compute migration -------------------------------------------------------------------

  private async runCompute(request: MigrationRequest, options: MigrateOptions): Promise<MigrationResult> {
    const vmId = request.vm.id;
    const source = await this.connectionOf(request.source.id);
    const target = await this.connectionOf(request.target.id);
    const startedAt = Date.now();
    // The worker's precheck of this migration has just seen the domain running here with no job: not asked twice.
    let before = this.takePrecheck(request.migrationId);
    if (!before) {
      const { state: sourceState, busy, description } = await this.sourceFacts(source, vmId);
      if (sourceState !== 'running') {
        // A repeated call after the switchover (its first driver died or lost its connection): done.
        if ((await this.domainState(target, vmId)) === 'running') return this.computeResult(request, target, null, startedAt, false);
        throw new MigrationEngineError(`VM ${vmId} is ${sourceState ?? 'not defined'} on host ${source.hostId}, not running`, false, 'not-on-source');
      }
      before = description ?? (await this.describe(source, vmId));
      // A repeated call while a migration job of the domain still runs (its first driver died, its
      // virsh carries on): followed to its end, never started a second time.
      if (busy) return this.adoptJob(request, source, target, before, startedAt, options);
    }
    await report(options, { phase: 'setup', iteration: 0, transferredBytes: 0, remainingBytes: before.memoryMb * 1024 * 1024 });
    if (options.signal?.aborted) throw new MigrationCancelledError(`migration of VM ${vmId} cancelled before it started; it stays on host ${source.hostId}`);

    const args = ['migrate', '--live', '--persistent', '--undefinesource', '--auto-converge', '--bandwidth', String(this.bandwidthMiBs(request)), vmId, target.uri];
    // Two daemons of one machine share its filesystem, which libvirt cannot tell from local storage.
    if (isLocalUri(source.uri) && isLocalUri(target.uri)) args.push('--unsafe');
    const migrateUri = migrationUri(target);
    if (migrateUri) args.push('--migrateuri', migrateUri);
    // One virsh process for the whole move: the downtime limit (set ahead of the job, QEMU keeps it
    // for the migration), the migration and, connected to the target, what the result needs. A
    // process per question would cost more than the move's own setup on a loaded host (bench:libvirt).
    const script = [
      ['migrate-setmaxdowntime', vmId, String(Math.max(1, request.downtimeLimitMs))],
      args,
      ['domstate', vmId],
      ['connect', target.uri],
      ['domstate', vmId],
      ['dumpxml', vmId],
      ['list', '--all', '--persistent', '--uuid'],
      ['domjobinfo', vmId, '--completed', '--rawstats'],
      ['dumpxml', '--inactive', '--migratable', vmId],
    ];
    const run = this.virsh.batch(source.uri, script, { hostId: source.hostId, timeoutMs: this.maxMigrationTimeMs }).then(
      (batch): { failure: Error | null; arrival: Arrival | null } => {
        const [, , sourceState, , targetState, xml, persistentIds, jobText, migratableXml] = batch.outputs;
        // Running on the target and not on the source: libvirt's word that the migration finished.
        const here = sourceState === null ? null : stateOf(sourceState);
        if (targetState !== null && stateOf(targetState) === 'running' && here !== 'running' && xml !== null) {
          return { failure: null, arrival: { xml, persistentIds, jobText, sourceState: here, migratableXml } };
        }
        return { failure: batchFailure(source.uri, { ...batch, errors: withoutLookupFailures(batch.errors) }, source.hostId), arrival: null };
      },
      (error: unknown) => ({ failure: error as Error, arrival: null }),
    );
    const job = run.then((r) => r.failure);
    const { cancelled, targetLost } = await this.followJob(source, target, vmId, options, job);
    const { failure, arrival } = await run;
    if (failure) {
      // libvirt says it did not finish; where the domain runs now is the answer.
      const [there, here] = await Promise.all([this.domainState(target, vmId).catch(() => null), this.domainState(source, vmId).catch(() => null)]);
      if (there === 'running' && here !== 'running') return this.computeResult(request, target, before, startedAt, false);
      if (cancelled) throw new MigrationCancelledError(`migration of VM ${vmId} cancelled; it stays on host ${source.hostId}`);
      if (targetLost) {
        throw new MigrationEngineError(`host ${target.hostId} (${target.uri}) stopped answering during the live migration of VM ${vmId}; the job was aborted and the VM stays on host ${source.hostId}: ${targetLost.libvirtMessage}`, true, 'unreachable');
      }
      const error = engineError(failure);
      throw new MigrationEngineError(`live migration of VM ${vmId} to host ${target.hostId} failed, it stays on host ${source.hostId}: ${error.message}`, error.transient, error.code);
    }
    const result = await this.computeResult(request, target, before, startedAt, true, arrival);
    // Not on the migration's path: the copy for an HA restart is written after it succeeded.
    const save = this.definitions.save(target, request.vm, arrival?.migratableXml ?? '').catch(() => undefined);
    this.saves.add(save);
    void save.finally(() => this.saves.delete(save));
    return result;
  }

  /** Follows a migration job of the domain that another driver started, to its end; where the domain runs then is the answer. */
  private async adoptJob(request: MigrationRequest, source: HostConnection, target: HostConnection, before: DomainDescription, startedAt: number, options: MigrateOptions): Promise<MigrationResult> {
    const vmId = request.vm.id;
    const job = (async () => {
      while (await this.jobRunning(source, vmId).catch(() => false)) await sleep(this.pollIntervalMs);
      return null;
    })();
    await this.followJob(source, target, vmId, options, job);
    await job;
    const [there, here] = await Promise.all([this.domainState(target, vmId), this.domainState(source, vmId)]);
    if (there === 'running' && here !== 'running') return this.computeResult(request, target, before, startedAt, true);
    if (options.signal?.aborted) throw new MigrationCancelledError(`migration of VM ${vmId} cancelled; it stays on host ${source.hostId}`);
    throw new MigrationEngineError(`an earlier migration job of VM ${vmId} (its driver died) ended without moving it; it stays on host ${here === 'running' ? source.hostId : 'neither source nor target'}`, true, 'transient');
  }

  /** The source's description as the precheck of a migration read it, for the migration that follows at once. */
  private rememberPrecheck(migrationId: string, description: DomainDescription): void {
    const now = Date.now();
    for (const [id, entry] of this.prechecked) if (now - entry.at > PRECHECK_FRESH_MS) this.prechecked.delete(id);
    this.prechecked.set(migrationId, { at: now, description });
  }

  private takePrecheck(migrationId: string): DomainDescription | null {
    const entry = this.prechecked.get(migrationId);
    this.prechecked.delete(migrationId);
    return entry && Date.now() - entry.at <= PRECHECK_FRESH_MS ? entry.description : null;
  }

  /**
   * Polls the source's job info while the migration runs; aborts the job when the run is cancelled,
   * or when the target's daemon stops answering (the migration could not finish without it, and
   * QEMU would go on copying to a destination nobody will start).
   */
  private async followJob(
    source: HostConnection,
    target: HostConnection,
    vmId: string,
    options: MigrateOptions,
    job: Promise<Error | null>,
  ): Promise<{ cancelled: boolean; targetLost: LibvirtError | null }> {
    let ended = false;
    void job.then(() => (ended = true));
    let cancelled = false;
    let targetLost: LibvirtError | null = null;
    let targetFailures = 0;
    let lastTargetCheck = Date.now();
    const abort = abortOf(options.signal);
    const poll = async () => {
      if (!targetLost && Date.now() - lastTargetCheck >= TARGET_CHECK_MS) {
        lastTargetCheck = Date.now();
        const problem = await this.call(target, ['uri'], TARGET_CHECK_MS).then(
          () => null,
          (error: unknown) => (error instanceof LibvirtError && error.unreachable ? error : null),
        );
        targetFailures = problem ? targetFailures + 1 : 0;
        if (problem && targetFailures >= 2) targetLost = problem;
      }
      const stop = (options.signal?.aborted && !cancelled) || (targetLost && !cancelled);
      // Until libvirt has the job there is nothing to abort: asked again at the next poll.
      if (stop) cancelled = await this.call(source, ['domjobabort', vmId]).then(() => true, () => false);
      const fields = parseFields(await this.call(source, ['domjobinfo', vmId, '--rawstats']).catch(() => ''), ':');
      if (fields.get('Job type') !== JOB_RUNNING || ended) return;
      const total = numberField(fields, 'data_total') ?? 0;
      if (total > 0 && !cancelled && !ended) {
        const throttle = numberField(fields, 'auto_converge_throttle');
        await report(options, {
          phase: 'precopy',
          iteration: Math.max(1, numberField(fields, 'memory_iteration') ?? 1),
          transferredBytes: numberField(fields, 'data_processed') ?? 0,
          remainingBytes: numberField(fields, 'data_remaining') ?? 0,
          totalBytes: total,
          dirtyRateBytesPerSecond: (numberField(fields, 'memory_dirty_rate') ?? 0) * (numberField(fields, 'memory_page_size') ?? 4096),
          ...(throttle !== undefined ? { throttle: throttle / 100 } : {}),
        });
      }
    };
    while (!ended) {
      await Promise.race(options.signal?.aborted ? [job, sleep(this.pollIntervalMs)] : [job, sleep(this.pollIntervalMs), abort]);
      // A poll in flight (domjobinfo waits for the job's lock at the switchover) does not hold the end up.
      if (!ended) await Promise.race([job, poll()]);
    }
    return { cancelled: options.signal?.aborted === true, targetLost };
  }

  /**
   * The migrated domain on the target, with libvirt's figures of the job (`withFigures`: the job
   * just completed there) and the end state promised: persistent there, no definition left on the
   * source. The questions are asked of both daemons at once.
   */
  private async computeResult(request: MigrationRequest, target: HostConnection, before: DomainDescription | null, startedAt: number, withFigures: boolean, arrival: Arrival | null = null): Promise<MigrationResult> {
    const vmId = request.vm.id;
    const source = await this.connectionOf(request.source.id);
    const { xml, persistentIds, jobText, sourceState } = arrival ?? (await this.arrival(source, target, vmId, withFigures));
    const after = parseDomainXml(xml);
    const figures = jobText ? jobFigures(jobText) : null;
    if (!(persistentIds ?? '').split('\n').some((id) => id.trim() === vmId)) {
      await runWithDocument(this.virsh, target.uri, ['define'], await this.call(target, ['dumpxml', '--migratable', vmId]), { hostId: target.hostId });
    }
    if (sourceState === 'shut off') await this.call(source, ['undefine', vmId]).catch(() => undefined);
    const macs = (d: DomainDescription) => d.nics.map((n) => n.mac).sort().join(',');
    return {
      hostId: target.hostId,
      totalTimeMs: figures?.totalTimeMs ?? Date.now() - startedAt,
      downtimeMs: figures?.downtimeMs ?? 0,
      transferredBytes: figures?.transferredBytes ?? 0,
      precopyIterations: figures?.iterations ?? 0,
      // Without the source's description (a repeated call), the MAC the inventory knows is the reference.
      macPreserved: before ? macs(before) === macs(after) : after.nics.some((n) => n.mac === request.vm.macAddress.toLowerCase()),
      // QEMU announces an incoming guest's NICs (RARP) itself once it runs on the destination.
      networkNotified: after.nics.length > 0,
    };
  }

  private bandwidthMiBs(request: MigrationRequest): number {
    const links = [request.source.migrationBandwidthMbps, request.target.migrationBandwidthMbps].map((m) => m ?? this.defaultBandwidthMbps);
    return Math.max(1, Math.floor((Math.min(...links) * 1_000_000) / 8 / 1024 / 1024));
  }

  // ---- storage migration -------------------------------------------------------------------

  private async runStorage(request: MigrationRequest, options: MigrateOptions): Promise<MigrationResult> {
    const vmId = request.vm.id;
    const host = await this.connectionOf(request.source.id);
    const startedAt = Date.now();
    const state = await this.domainState(host, vmId);
    if (state !== 'running') throw new MigrationEngineError(`VM ${vmId} is ${state ?? 'not defined'} on host ${host.hostId}, not running`, false, 'not-on-source');
    const domain = await this.describe(host, vmId);
    const targetDir = await this.datastoreDirectory(host, request.targetDatastoreId!);
    const onTarget = domain.disks.find((d) => d.path && dirname(d.path) === targetDir.path);
    if (onTarget && !(await this.diskToMove(host, domain, request.sourceDatastoreId))) {
      // A repeated call after the pivot: the disk is there already.
      return { hostId: host.hostId, datastoreId: request.targetDatastoreId, totalTimeMs: 0, downtimeMs: 0, transferredBytes: 0, precopyIterations: 1, macPreserved: true, networkNotified: false, maxThrottle: 0 };
    }
    const disk = await this.diskToMove(host, domain, request.sourceDatastoreId);
    if (!disk?.path) throw new MigrationEngineError(`VM ${vmId} has no disk on datastore ${request.sourceDatastoreId ?? '(any)'} on host ${host.hostId}`, false, 'not-on-source');
    const destination = join(targetDir.path, basename(disk.path));
    const format = disk.format ?? 'raw';
    await report(options, { phase: 'setup', iteration: 0, transferredBytes: 0, remainingBytes: 0 });
    if (targetDir.pool) await this.createVolumeLike(host, disk.path, targetDir.pool, basename(disk.path), format);
    const args = ['blockcopy', vmId, disk.target, '--dest', destination, '--format', format, '--transient-job', '--wait', '--pivot'];
    if (targetDir.pool) args.push('--reuse-external');
    const copy = this.call(host, args, this.maxMigrationTimeMs).then(
      () => null,
      (error: unknown) => error as Error,
    );
    let ended = false;
    void copy.then(() => (ended = true));
    let cancelled = false;
    let copied = 0;
    const abort = abortOf(options.signal);
    while (!ended) {
      if (options.signal?.aborted && !cancelled) cancelled = await this.call(host, ['blockjob', vmId, disk.target, '--abort']).then(() => true, () => false);
      const info = await this.call(host, ['blockjob', vmId, disk.target, '--info', '--bytes']).catch(() => '');
      const bytes = /\[(\d+) of (\d+) bytes\]/.exec(info);
      if (bytes && !cancelled) {
        copied = Number(bytes[1]);
        await report(options, { phase: 'mirror', iteration: 1, transferredBytes: copied, remainingBytes: Math.max(0, Number(bytes[2]) - copied), totalBytes: Number(bytes[2]) });
      }
      await Promise.race(options.signal?.aborted ? [copy, sleep(this.pollIntervalMs)] : [copy, sleep(this.pollIntervalMs), abort]);
    }
    const failure = await copy;
    const now = (await this.describe(host, vmId)).disks.find((d) => d.target === disk.target);
    if (failure || now?.path !== destination) {
      if (targetDir.pool) await this.call(host, ['vol-delete', destination]).catch(() => undefined);
      if (cancelled || options.signal?.aborted) throw new MigrationCancelledError(`storage migration of VM ${vmId} cancelled; its disk stays at ${disk.path}`);
      const error = engineError(failure ?? new Error(`the disk is at ${now?.path ?? 'an unknown place'} after the copy`));
      throw new MigrationEngineError(`storage migration of VM ${vmId} on host ${host.hostId} failed, its disk stays at ${disk.path}: ${error.message}`, error.transient, error.code);
    }
    // The old image is no longer in use; a pool's volume is removed (vMotion leaves no copy behind).
    if (await this.datastoreOf(host, disk.path).then((ds) => !ds.startsWith('/'), () => false)) {
      await this.call(host, ['vol-delete', disk.path]).catch(() => undefined);
    }
    const after = await this.describe(host, vmId);
    const macs = (d: DomainDescription) => d.nics.map((n) => n.mac).sort().join(',');
    return {
      hostId: host.hostId,
      datastoreId: request.targetDatastoreId,
      totalTimeMs: Date.now() - startedAt,
      downtimeMs: 0,
      transferredBytes: copied,
      precopyIterations: 1,
      macPreserved: macs(domain) === macs(after),
      networkNotified: false,
      maxThrottle: 0,
    };
  }

  /** The disk a storage migration moves: the first one on `datastoreId` (any when not given). */
  private async diskToMove(connection: HostConnection, domain: DomainDescription, datastoreId: string | undefined): Promise<DomainDisk | null> {
    for (const disk of domain.disks) {
      if (!disk.path) continue;
      if (!datastoreId || (await this.datastoreOf(connection, disk.path)) === datastoreId) return disk;
    }
    return null;
  }

  /** A datastore is a storage pool (by name) or a directory (by absolute path). */
  async datastoreOf(connection: HostConnection, path: string): Promise<string> {
    const pool = (await this.call(connection, ['vol-pool', path]).catch(() => '')).trim();
    return pool || dirname(path);
  }

  private async datastoreDirectory(connection: HostConnection, datastoreId: string): Promise<{ path: string; pool: string | null }> {
    if (datastoreId.startsWith('/')) return { path: datastoreId, pool: null };
    let xml: string;
    try {
      xml = await this.call(connection, ['pool-dumpxml', datastoreId]);
    } catch (error) {
      throw new MigrationEngineError(`datastore ${datastoreId} is neither a directory nor a storage pool of host ${connection.hostId}: ${engineError(error).message}`, false, 'target-unusable');
    }
    const path = poolPath(xml);
    if (!path) throw new MigrationEngineError(`storage pool ${datastoreId} of host ${connection.hostId} has no target directory`, false, 'target-unusable');
    return { path, pool: datastoreId };
  }

  /** A new volume in `pool` with the size, format and permissions of the image at `path`. */
  private async createVolumeLike(connection: HostConnection, path: string, pool: string, name: string, format: string): Promise<void> {
    const sourceXml = await this.call(connection, ['vol-dumpxml', path]);
    const capacity = /<capacity unit='bytes'>(\d+)<\/capacity>/.exec(sourceXml)?.[1];
    if (!capacity) throw new MigrationEngineError(`cannot read the size of ${path} on host ${connection.hostId}`, false, 'failed');
    const mode = volumeMode(sourceXml);
    const xml = `<volume><name>${escapeXml(name)}</name><capacity unit='bytes'>${capacity}</capacity><target><format type='${escapeXml(format)}'/>${mode ? `<permissions><mode>${escapeXml(mode)}</mode></permissions>` : ''}</target></volume>`;
    await runWithDocument(this.virsh, connection.uri, ['vol-create', pool], xml, { hostId: connection.hostId });
  }

  private async firstDatastore(connection: HostConnection, vmId: string): Promise<string | undefined> {
    const path = (await this.describe(connection, vmId).catch(() => null))?.disks.find((d) => d.path)?.path;
    return path ? this.datastoreOf(connection, path) : undefined;
  }

  // ---- helpers -----------------------------------------------------------------------------

  private async connectionOf(hostId: string): Promise<HostConnection> {
    const connection = await this.hosts.connection(hostId);
    if (!connection) throw new MigrationEngineError(`host ${hostId} has no libvirt connection (set its connectionUri)`, false, 'no-connection');
    return connection;
  }

  private call(connection: HostConnection, args: string[], timeoutMs?: number): Promise<string> {
    return this.virsh.run(connection.uri, args, { hostId: connection.hostId, timeoutMs });
  }

  async describe(connection: HostConnection, vmId: string): Promise<DomainDescription> {
    return parseDomainXml(await this.call(connection, ['dumpxml', vmId]));
  }

  private async domainState(connection: HostConnection, vmId: string, timeoutMs?: number): Promise<DomainState> {
    try {
      return stateOf(await this.call(connection, ['domstate', vmId], timeoutMs));
    } catch (error) {
      if (error instanceof LibvirtError && NO_DOMAIN.test(error.libvirtMessage)) return null;
      throw error;
    }
  }

  private async jobRunning(connection: HostConnection, vmId: string): Promise<boolean> {
    const fields = parseFields(await this.call(connection, ['domjobinfo', vmId, '--rawstats']).catch(() => ''), ':');
    return fields.get('Job type') === JOB_RUNNING;
  }

  private assertOpen(): void {
    if (this.closed) throw new MigrationEngineError('the libvirt migration engine is closed', true, 'closed');
  }
}

/** A failed migration's words without the lookups that failed after it because the domain did not arrive. */
function withoutLookupFailures(errors: string): string {
  const kept = errors.split('; ').filter((line) => !NO_DOMAIN.test(line));
  return kept.length > 0 ? kept.join('; ') : errors;
}

function stateOf(domstate: string): DomainState {
  const state = domstate.trim();
  return state === 'running' || state === 'paused' || state === 'shut off' ? state : 'other';
}

/** libvirt's figures of a completed job (`domjobinfo --completed --rawstats`), or null when it has none. */
function jobFigures(text: string): LibvirtJobFigures | null {
  const fields = parseFields(text, ':');
  if (fields.get('Job type') !== '3') return null;
  return {
    totalTimeMs: numberField(fields, 'time_elapsed') ?? 0,
    downtimeMs: numberField(fields, 'downtime') ?? 0,
    transferredBytes: numberField(fields, 'data_processed') ?? 0,
    iterations: numberField(fields, 'memory_iteration') ?? 0,
  };
}

/** `tcp://ADDRESS[:PORT]` for the target's QEMU; on this machine loopback (libvirt would pick the host name). */
function migrationUri(target: HostConnection): string | null {
  if (target.migrationAddress) return `tcp://${target.migrationAddress}`;
  return isLocalUri(target.uri) ? 'tcp://127.0.0.1' : null;
}

function engineError(error: unknown): MigrationEngineError {
  if (error instanceof MigrationEngineError) return error;
  if (error instanceof LibvirtError) return new MigrationEngineError(error.message, error.unreachable, error.unreachable ? 'unreachable' : 'libvirt');
  return new MigrationEngineError((error as Error)?.message ?? String(error), false, 'failed');
}

async function report(options: MigrateOptions, progress: MigrationProgress): Promise<void> {
  await options.onProgress?.(progress);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves when the signal aborts (at once if it already did); never without one. */
function abortOf(signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return new Promise(() => undefined);
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
