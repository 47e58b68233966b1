/**
 * The migration-engine port. An adapter runs one live migration end to end (vMotion-style: memory
 * pre-copy, a short switchover, the same MAC and network identity), reports progress, can be
 * cancelled, and can say where a VM really runs (ground truth for reconciliation after a crash).
 * `MIGRATION_ENGINE` in the environment selects the adapter.
 */
export const MIGRATION_ENGINE = Symbol('MIGRATION_ENGINE');

export const ENGINE_NAMES = ['simulated', 'qemu', 'libvirt'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

export type MigrationKind = 'compute' | 'storage';

export interface EngineVm {
  id: string;
  memoryMb: number;
  /** How fast the guest dirties memory; the adapter may use its own default when absent. */
  memoryDirtyRateMbps?: number;
  /** The guest NIC's MAC address; it must be the same after the move. */
  macAddress: string;
  datastores: string[];
  /** Size of the VM's disks, for storage migrations; the adapter may use its own default when absent. */
  diskMb?: number;
}

export interface EngineHost {
  id: string;
  /** The host's migration link; absent means the adapter's default (10 Gb/s). */
  migrationBandwidthMbps?: number;
}

export interface MigrationRequest {
  /** Ballast's migration id: an adapter uses it to make a repeated call for the same move harmless. */
  migrationId: string;
  kind: MigrationKind;
  vm: EngineVm;
  source: EngineHost;
  /** For `compute`: the host the VM moves to. For `storage`, the VM stays on `source`. */
  target: EngineHost;
  /** For `storage`: the datastore the VM's disks move from and to. */
  sourceDatastoreId?: string;
  targetDatastoreId?: string;
  /** The switchover may pause the guest at most this long (default 300 ms). */
  downtimeLimitMs: number;
}

export type MigrationPhase = 'setup' | 'precopy' | 'switchover' | 'announce' | 'cleanup' | 'mirror';

export interface MigrationProgress {
  phase: MigrationPhase;
  /** Pre-copy passes over memory so far (1 = the first full copy). */
  iteration: number;
  transferredBytes: number;
  /** Bytes still to send in this pass (dirty memory, or disk left to mirror). */
  remainingBytes: number;
  /** Guest throttle applied by auto-converge, 0..1. */
  throttle?: number;
  /** The bandwidth the engine lets this migration use now, in Mb/s: its share of the links it sends over. */
  bandwidthMbps?: number;
  /** Everything this migration has to send, as far as the engine knows it (libvirt's data total). */
  totalBytes?: number;
  /** How fast the guest dirties memory now, as the engine measures it. */
  dirtyRateBytesPerSecond?: number;
}

export interface MigrationResult {
  /** Where the VM runs after the migration (the target for compute, the source for storage). */
  hostId: string;
  datastoreId?: string;
  totalTimeMs: number;
  /** The switchover: how long the guest was paused. */
  downtimeMs: number;
  /** The pause the engine held the switchover to (the hypervisor's own setting, where it has one). */
  downtimeLimitMs?: number;
  transferredBytes: number;
  precopyIterations: number;
  /** The guest on the destination has the MAC it had on the source. */
  macPreserved: boolean;
  /** The network was told where the VM is now (the RARP / announce-self step). */
  networkNotified: boolean;
  /** Highest auto-converge throttle applied, 0..1. */
  maxThrottle?: number;
}

export interface PrecheckResult {
  ok: boolean;
  reason?: string;
}

export interface VmLocation {
  /** The host the VM runs on now, or null when the engine does not know the VM. */
  hostId: string | null;
  running: boolean;
  /** A migration of this VM is still in progress inside the engine. */
  migrating: boolean;
  /** The datastore the VM's disks are on now, when the engine knows (to reconcile a storage migration). */
  datastoreId?: string;
}

/**
 * HA restart on shared storage: the failed host's VM is started from its disks on the target (a
 * cold boot, not a migration: whatever was in its memory is lost).
 */
export interface RestartRequest {
  /** Ballast's id of this restart (a migrations row of kind 'restart'): repeated calls are harmless. */
  migrationId: string;
  vm: EngineVm;
  /** The host that failed (the VM's last known host). */
  failedHost: EngineHost;
  target: EngineHost;
}

export interface RestartResult {
  /** Where the VM runs now. */
  hostId: string;
  running: boolean;
  /** From the start command to a booted guest. */
  bootTimeMs: number;
}

export interface MigrateOptions {
  onProgress?: (progress: MigrationProgress) => void | Promise<void>;
  /** Aborting cancels the migration; the VM stays running on the source. */
  signal?: AbortSignal;
}

/**
 * A failed migration. `transient` errors (a busy link, a lost connection before switchover) may be
 * retried; the others (the guest does not converge, the destination refused it) are final.
 * Either way, the VM is left running where it was.
 */
export class MigrationEngineError extends Error {
  constructor(
    message: string,
    readonly transient: boolean,
    readonly code: string = transient ? 'transient' : 'failed',
  ) {
    super(message);
    this.name = 'MigrationEngineError';
  }
}

export class MigrationCancelledError extends MigrationEngineError {
  constructor(message = 'migration cancelled') {
    super(message, false, 'cancelled');
    this.name = 'MigrationCancelledError';
  }
}

export interface VmPlacement {
  vm: EngineVm;
  hostId: string;
  /** Powered-off VMs are known to the engine but not running. */
  running: boolean;
}

export interface MigrationEngine {
  readonly name: EngineName;
  /**
   * Makes sure the engine knows these VMs: the simulated world records them, the QEMU lab starts
   * their guests. A VM the engine already knows keeps the placement the engine has for it.
   */
  register(placements: VmPlacement[]): Promise<void>;
  /**
   * Can this VM go there now? Checks the engine's own view (the VM runs on the source, the target
   * answers); a VM the engine does not know yet passes (migrate registers it on the source). The worker
   * asks before every migration starts: a refusal fails the migration with this reason.
   */
  precheck(request: MigrationRequest): Promise<PrecheckResult>;
  /**
   * Runs the migration to the end; throws MigrationEngineError when it fails (the VM stays on the
   * source). A VM the engine does not know yet is registered first, as running on the request's source.
   */
  migrate(request: MigrationRequest, options?: MigrateOptions): Promise<MigrationResult>;
  /**
   * Starts a VM of a failed host on the target from its shared disks. Repeating the call with the same
   * migrationId returns the first result and never starts the VM twice; a VM that runs on a host other
   * than the failed host or the target is refused (non-transient): it was never down, or another
   * restart already brought it up.
   */
  restart(request: RestartRequest): Promise<RestartResult>;
  /** Ground truth: where the VM really is. */
  locate(vmId: string): Promise<VmLocation>;
  /** Releases processes, connections and timers. */
  close(): Promise<void>;
}

/** What is wrong with a restart request whatever the engine (null: nothing). */
export function restartRequestProblem(request: RestartRequest): string | null {
  if (!request?.migrationId) return 'migrationId must not be empty';
  if (!request.vm?.id) return 'vm.id must not be empty';
  if (!(Number.isFinite(request.vm.memoryMb) && request.vm.memoryMb > 0)) return `vm.memoryMb must be a positive number, not ${String(request.vm.memoryMb)}`;
  if (!request.failedHost?.id) return 'failedHost.id must not be empty';
  if (!request.target?.id) return 'target.id must not be empty';
  if (request.target.id === request.failedHost.id) return `target.id must differ from failedHost.id (${request.failedHost.id})`;
  return null;
}

/** What is wrong with a request whatever the engine (null: nothing); engines refuse such a request before doing anything. */
export function requestProblem(request: MigrationRequest): string | null {
  if (!request?.migrationId) return 'migrationId must not be empty';
  if (!request.vm?.id) return 'vm.id must not be empty';
  if (!request.source?.id) return 'source.id must not be empty';
  if (request.kind !== 'compute' && request.kind !== 'storage') return `kind must be compute or storage, not ${String(request.kind)}`;
  if (!(request.downtimeLimitMs >= 0)) return `downtimeLimitMs must be 0 or more, not ${String(request.downtimeLimitMs)}`;
  if (request.kind === 'compute') {
    if (!request.target?.id) return 'target.id must not be empty';
    if (request.target.id === request.source.id) return `target.id must differ from source.id (${request.source.id})`;
  } else if (!request.targetDatastoreId) {
    return 'targetDatastoreId is required for a storage migration';
  }
  for (const [field, host] of [['source', request.source], ['target', request.target]] as const) {
    const mbps = host?.migrationBandwidthMbps;
    if (mbps !== undefined && !(mbps > 0)) return `${field}.migrationBandwidthMbps must be positive, not ${mbps}`;
  }
  return null;
}
