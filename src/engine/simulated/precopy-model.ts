import type { MigrationKind, MigrationPhase, MigrationProgress } from '../migration-engine.js';

/**
 * A pure, deterministic model of one live migration in simulated time (no clock, no I/O), shared by
 * the simulated engine (which steps it tick by tick against bandwidth read from Redis) and by
 * benchmarks (which step many of them at once with SharedLinkSimulation).
 *
 * Compute (vMotion / QEMU pre-copy): setup, then passes over memory — pass 1 sends all of it, each
 * next pass sends what the guest dirtied during the previous one (capped by memory size) — until the
 * dirty remainder can be sent within the downtime limit; then the switchover pauses the guest, sends
 * the remainder and resumes it on the target; then the announce (RARP) tells the network where the
 * MAC now lives. A guest that dirties memory too fast is throttled (auto-converge); a migration that
 * still does not converge after `maxPasses` fails with the VM left on the source.
 *
 * Storage (Storage vMotion / QEMU drive-mirror): the same iterative copy over the disk, with blocks
 * written during a pass copied again in the next (the mirror's dirty bitmap), then the pivot.
 *
 * Units: sizes in MiB (as `memoryMb` in the inventory), rates in megabits per second (as link speeds
 * are quoted: 10,000 Mb/s = 10 Gb/s). 1 Mb/s moves 125 bytes per millisecond.
 */
export const BYTES_PER_MIB = 1024 * 1024;
export const BYTES_PER_MS_PER_MBPS = 125;

export interface PrecopyConstants {
  /** Preparing the destination (shadow VM, `-incoming`) before anything crosses the link. */
  setupMs: number;
  /** Added to every compute switchover: device state transfer and resume on the target. */
  switchoverCostMs: number;
  /** Added to every storage pivot: draining in-flight I/O and reopening the disk on the new datastore. */
  pivotCostMs: number;
  defaultDowntimeLimitMs: number;
  defaultBandwidthMbps: number;
  /** Guest memory dirty rate when the VM does not say. */
  defaultDirtyRateMbps: number;
  /** Disk size for storage migrations when the VM does not say. */
  defaultDiskMb: number;
  /** Guest disk write rate during storage migrations. */
  defaultDiskWriteRateMbps: number;
  /** A pass is "hot" when the guest dirtied more than this share of what the pass sent. */
  throttleTriggerRatio: number;
  /** Auto-converge starts after this many hot passes in a row. */
  throttleTriggerPasses: number;
  throttleInitial: number;
  /** Added after every further hot pass. */
  throttleIncrement: number;
  throttleMax: number;
  /** The bound: a migration that has not converged after this many passes fails. */
  maxPasses: number;
}

export const PRECOPY_CONSTANTS: Readonly<PrecopyConstants> = Object.freeze({
  setupMs: 500,
  switchoverCostMs: 20,
  pivotCostMs: 10,
  defaultDowntimeLimitMs: 300,
  defaultBandwidthMbps: 10_000,
  defaultDirtyRateMbps: 100,
  defaultDiskMb: 20 * 1024,
  defaultDiskWriteRateMbps: 80,
  // QEMU's own auto-converge defaults: throttle-trigger-threshold 50, cpu-throttle-initial 20,
  // cpu-throttle-increment 10, max-cpu-throttle 99.
  throttleTriggerRatio: 0.5,
  throttleTriggerPasses: 2,
  throttleInitial: 0.2,
  throttleIncrement: 0.1,
  throttleMax: 0.99,
  maxPasses: 30,
});

/**
 * The dirty rate of a guest that "dirties memory faster than any link": even throttled by 99 % it
 * still dirties 10 Tb/s, so it never converges.
 */
export const NONCONVERGING_DIRTY_RATE_MBPS = 1e9;

export interface MigrationModelInput {
  kind: MigrationKind;
  memoryMb: number;
  memoryDirtyRateMbps?: number;
  diskMb?: number;
  diskWriteRateMbps?: number;
  downtimeLimitMs?: number;
  /** A powered-off VM moves cold (compute: nothing to copy or announce; storage: a disk nobody writes). */
  running?: boolean;
}

export type PrecopyStatus = 'running' | 'succeeded' | 'failed';

export interface PrecopyOutcome {
  totalTimeMs: number;
  downtimeMs: number;
  transferredBytes: number;
  precopyIterations: number;
  maxThrottle: number;
  /** The announce step ran (a running VM changed host). */
  networkNotified: boolean;
}

export interface PrecopyFailure {
  code: 'not-converged';
  message: string;
}

export interface PrecopyStep {
  usedMs: number;
  /** The progress at the start of the stage or pass just entered, if this step entered one. */
  event: MigrationProgress | null;
}

type Stage = 'setup' | 'copy' | 'switchover' | 'announce' | 'cleanup' | 'done' | 'failed';

function positive(value: number, field: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${field} must be a positive number: ${value}`);
  return value;
}

function nonNegative(value: number, field: string): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${field} must be zero or a positive number: ${value}`);
  return value;
}

function bytesPerMs(bandwidthMbps: number): number {
  if (!(bandwidthMbps > 0) || !Number.isFinite(bandwidthMbps)) {
    throw new RangeError(`bandwidth must be a positive number of Mb/s: ${bandwidthMbps}`);
  }
  return bandwidthMbps * BYTES_PER_MS_PER_MBPS;
}

export class PrecopyMigration {
  readonly kind: MigrationKind;
  readonly live: boolean;
  /** Memory (compute) or disk (storage) to copy. */
  readonly sizeBytes: number;
  /** Unthrottled rate at which the guest dirties what is being copied. */
  readonly dirtyRateMbps: number;
  readonly downtimeLimitMs: number;
  private readonly constants: PrecopyConstants;

  private stage: Stage = 'setup';
  private stageElapsedMs = 0;
  private elapsed = 0;
  private passes = 0;
  private passBytes = 0;
  private passSent = 0;
  private passElapsedMs = 0;
  private transferred = 0;
  private throttleNow = 0;
  private maxThrottleSeen = 0;
  private hotPasses = 0;
  private finalBytes = 0;
  private downtime = 0;
  private failureInfo: PrecopyFailure | null = null;

  constructor(input: MigrationModelInput, constants: Readonly<PrecopyConstants> = PRECOPY_CONSTANTS) {
    this.constants = { ...constants };
    this.kind = input.kind;
    if (input.kind !== 'compute' && input.kind !== 'storage') {
      throw new RangeError(`kind must be compute or storage: ${String(input.kind)}`);
    }
    this.live = input.running ?? true;
    this.downtimeLimitMs = positive(input.downtimeLimitMs ?? constants.defaultDowntimeLimitMs, 'downtimeLimitMs');
    if (input.kind === 'compute') {
      this.sizeBytes = positive(input.memoryMb, 'memoryMb') * BYTES_PER_MIB;
      this.dirtyRateMbps = nonNegative(input.memoryDirtyRateMbps ?? constants.defaultDirtyRateMbps, 'memoryDirtyRateMbps');
    } else {
      this.sizeBytes = positive(input.diskMb ?? constants.defaultDiskMb, 'diskMb') * BYTES_PER_MIB;
      this.dirtyRateMbps = this.live
        ? nonNegative(input.diskWriteRateMbps ?? constants.defaultDiskWriteRateMbps, 'diskWriteRateMbps')
        : 0;
    }
  }

  get status(): PrecopyStatus {
    if (this.stage === 'failed') return 'failed';
    return this.stage === 'done' ? 'succeeded' : 'running';
  }

  get phase(): MigrationPhase {
    switch (this.stage) {
      case 'copy':
        return this.kind === 'compute' ? 'precopy' : 'mirror';
      case 'done':
      case 'failed':
        return 'cleanup';
      default:
        return this.stage;
    }
  }

  /** Sending over the migration link now (copy passes and the switchover), so it takes a share of it. */
  get usesLink(): boolean {
    return this.stage === 'copy' || this.stage === 'switchover';
  }

  /** The switchover (or pivot, or a cold move) is over: the VM now runs where it was going. */
  get switchedOver(): boolean {
    return this.stage === 'announce' || this.stage === 'cleanup' || this.stage === 'done';
  }

  get elapsedMs(): number {
    return this.elapsed;
  }

  get completedPasses(): number {
    return this.stage === 'copy' ? this.passes - 1 : this.passes;
  }

  get failure(): PrecopyFailure | null {
    return this.failureInfo;
  }

  progress(): MigrationProgress {
    let remaining = 0;
    if (this.stage === 'setup') remaining = this.live || this.kind === 'storage' ? this.sizeBytes : 0;
    if (this.stage === 'copy') remaining = this.passBytes - this.passSent;
    if (this.stage === 'switchover' && this.downtime > 0) {
      remaining = this.finalBytes * (1 - this.stageElapsedMs / this.downtime);
    }
    return {
      phase: this.phase,
      iteration: this.passes,
      transferredBytes: Math.round(this.transferred),
      remainingBytes: Math.max(0, Math.round(remaining)),
      throttle: this.throttleNow,
    };
  }

  outcome(): PrecopyOutcome {
    return {
      totalTimeMs: this.elapsed,
      downtimeMs: this.downtime,
      transferredBytes: Math.round(this.transferred),
      precopyIterations: this.passes,
      maxThrottle: this.maxThrottleSeen,
      networkNotified: this.kind === 'compute' && this.live && this.switchedOver,
    };
  }

  /** Simulated time until the next stage or pass begins at this bandwidth (0: it begins now). */
  msToNextEvent(bandwidthMbps: number): number {
    switch (this.stage) {
      case 'setup':
        return this.constants.setupMs - this.stageElapsedMs;
      case 'copy':
        return (this.passBytes - this.passSent) / bytesPerMs(bandwidthMbps);
      case 'switchover':
        return this.downtime - this.stageElapsedMs;
      case 'announce':
      case 'cleanup':
        return 0;
      default:
        return Infinity;
    }
  }

  /**
   * Advances at most `ms` of simulated time with this bandwidth, stopping as soon as a stage or pass
   * begins (so the caller can act on it, and re-read the bandwidth). Zero-length stages take a step
   * of their own: keep stepping while `event` is not null.
   */
  step(ms: number, bandwidthMbps: number): PrecopyStep {
    if (this.stage === 'done' || this.stage === 'failed') return { usedMs: 0, event: null };
    const rate = bytesPerMs(bandwidthMbps);
    const toEvent = this.msToNextEvent(bandwidthMbps);
    const used = Math.max(0, Math.min(ms, toEvent));
    this.elapsed += used;
    this.stageElapsedMs += used;
    if (this.stage === 'copy') {
      this.passElapsedMs += used;
      const sent = used === toEvent ? this.passBytes - this.passSent : used * rate;
      this.passSent += sent;
      this.transferred += sent;
    } else if (this.stage === 'switchover') {
      this.transferred += this.downtime > 0 ? (this.finalBytes * used) / this.downtime : 0;
    }
    if (used < toEvent) return { usedMs: used, event: null };
    return { usedMs: used, event: this.finishStage(rate) };
  }

  /** Advances `ms` of simulated time at a constant bandwidth; returns the progress of every stage and pass entered. */
  advance(ms: number, bandwidthMbps: number): MigrationProgress[] {
    const events: MigrationProgress[] = [];
    let left = ms;
    while (this.status === 'running') {
      const { usedMs, event } = this.step(left, bandwidthMbps);
      left -= usedMs;
      if (event) events.push(event);
      else if (usedMs === 0 || left <= 0) break;
    }
    return events;
  }

  /** Runs to success or failure at a constant bandwidth. */
  runToEnd(bandwidthMbps: number): MigrationProgress[] {
    return this.advance(Infinity, bandwidthMbps);
  }

  private enter(stage: Stage): MigrationProgress | null {
    this.stage = stage;
    this.stageElapsedMs = 0;
    return stage === 'done' || stage === 'failed' ? null : this.progress();
  }

  private finishStage(rate: number): MigrationProgress | null {
    switch (this.stage) {
      case 'setup':
        if (this.kind === 'compute' && !this.live) return this.enter('cleanup');
        return this.startPass(this.sizeBytes);
      case 'copy':
        return this.finishPass(rate);
      case 'switchover':
        return this.enter(this.kind === 'compute' ? 'announce' : 'cleanup');
      case 'announce':
        return this.enter('cleanup');
      default:
        return this.enter('done');
    }
  }

  private startPass(bytes: number): MigrationProgress | null {
    this.passes += 1;
    this.passBytes = bytes;
    this.passSent = 0;
    this.passElapsedMs = 0;
    return this.enter('copy');
  }

  private finishPass(rate: number): MigrationProgress | null {
    const dirtyBytesPerMs = this.dirtyRateMbps * BYTES_PER_MS_PER_MBPS * (1 - this.throttleNow);
    const dirtied = Math.min(this.sizeBytes, dirtyBytesPerMs * this.passElapsedMs);
    const fixedCost = this.kind === 'compute' ? this.constants.switchoverCostMs : this.constants.pivotCostMs;
    const switchoverMs = dirtied / rate + fixedCost;
    if (switchoverMs <= this.downtimeLimitMs) {
      this.finalBytes = dirtied;
      this.downtime = switchoverMs;
      return this.enter('switchover');
    }
    if (this.passes >= this.constants.maxPasses) {
      const what = this.kind === 'compute' ? 'memory' : 'disk';
      this.failureInfo = {
        code: 'not-converged',
        message:
          `did not converge after ${this.passes} passes: ${Math.round(dirtied / BYTES_PER_MIB)} MiB of ${what} still dirty ` +
          `would pause the guest ${Math.round(switchoverMs)} ms (limit ${this.downtimeLimitMs} ms) ` +
          `with the guest throttled ${Math.round(this.throttleNow * 100)} %`,
      };
      return this.enter('failed');
    }
    this.autoConverge(dirtied > this.constants.throttleTriggerRatio * this.passBytes);
    return this.startPass(dirtied);
  }

  private autoConverge(hotPass: boolean): void {
    const c = this.constants;
    if (!hotPass) {
      this.hotPasses = 0;
      return;
    }
    this.hotPasses += 1;
    if (this.throttleNow > 0) this.throttleNow = Math.min(c.throttleMax, this.throttleNow + c.throttleIncrement);
    else if (this.hotPasses >= c.throttleTriggerPasses) this.throttleNow = c.throttleInitial;
    // Keep the figures readable (0.3, not 0.30000000000000004).
    this.throttleNow = Math.round(this.throttleNow * 1e6) / 1e6;
    this.maxThrottleSeen = Math.max(this.maxThrottleSeen, this.throttleNow);
  }
}
