import type { EngineHost } from '../migration-engine.js';
import { linkShareMbps } from '../link-share.js';
import {
  PRECOPY_CONSTANTS,
  PrecopyMigration,
  type MigrationModelInput,
  type PrecopyConstants,
  type PrecopyFailure,
  type PrecopyOutcome,
} from './precopy-model.js';

/**
 * Many concurrent migrations sharing hosts' migration links, stepped in simulated time from event
 * to event (a stage or pass beginning anywhere changes who shares which link). Pure and exact for
 * the same model and sharing rule the simulated engine uses, without Redis and without ticks: this
 * is what a benchmark (host evacuation) drives.
 *
 * ```ts
 * const sim = new SharedLinkSimulation();
 * while (queue.length > 0 || sim.inFlight > 0) {
 *   while (queue.length > 0 && sim.inFlightOnHost(source) < 8) sim.start(queue.shift()!);
 *   for (const done of sim.advance()) ...;   // to the next event
 * }
 * sim.nowMs; // simulated wall time
 * ```
 */
export interface SimulatedMigrationSpec extends MigrationModelInput {
  id: string;
  source: EngineHost;
  /** For storage migrations, ignored: the disk copy uses the source host's link. */
  target: EngineHost;
}

export interface SimulationCompletion {
  id: string;
  status: 'succeeded' | 'failed';
  startedAtMs: number;
  finishedAtMs: number;
  outcome: PrecopyOutcome;
  failure: PrecopyFailure | null;
}

interface Running {
  spec: SimulatedMigrationSpec;
  model: PrecopyMigration;
  startedAtMs: number;
  links: string[];
}

export class SharedLinkSimulation {
  private readonly constants: PrecopyConstants;
  private readonly running = new Map<string, Running>();
  private now = 0;

  constructor(constants: Partial<PrecopyConstants> = {}) {
    this.constants = { ...PRECOPY_CONSTANTS, ...constants };
  }

  get nowMs(): number {
    return this.now;
  }

  get inFlight(): number {
    return this.running.size;
  }

  /** Migrations in flight (any stage) with this host as source or target, for per-host limits. */
  inFlightOnHost(hostId: string): number {
    let count = 0;
    for (const { spec } of this.running.values()) {
      if (spec.source.id === hostId || (spec.kind === 'compute' && spec.target.id === hostId)) count += 1;
    }
    return count;
  }

  /** The migration's model, to read its progress (phase, bytes, throttle). */
  migration(id: string): PrecopyMigration | undefined {
    return this.running.get(id)?.model;
  }

  /** Starts a migration now. */
  start(spec: SimulatedMigrationSpec): PrecopyMigration {
    if (this.running.has(spec.id)) throw new Error(`migration ${spec.id} is already running`);
    const model = new PrecopyMigration(spec, this.constants);
    const links = spec.kind === 'compute' ? [spec.source.id, spec.target.id] : [spec.source.id];
    this.running.set(spec.id, { spec, model, startedAtMs: this.now, links });
    return model;
  }

  /** The bandwidth this migration gets right now. */
  shareMbps(id: string): number {
    const entry = this.running.get(id);
    if (!entry) throw new Error(`migration ${id} is not running`);
    return this.shares().get(id)!;
  }

  /**
   * Advances to the next event (or to `untilMs`, whichever comes first) and returns the migrations
   * that ended then. With nothing in flight, time jumps to `untilMs` when it is finite.
   */
  advance(untilMs = Infinity): SimulationCompletion[] {
    if (this.running.size === 0) {
      if (Number.isFinite(untilMs)) this.now = Math.max(this.now, untilMs);
      return [];
    }
    const shares = this.shares();
    let dt = Math.max(0, untilMs - this.now);
    for (const [id, { model }] of this.running) dt = Math.min(dt, model.msToNextEvent(shares.get(id)!));
    const ended: SimulationCompletion[] = [];
    for (const [id, entry] of this.running) {
      entry.model.advance(dt, shares.get(id)!);
      if (entry.model.status === 'running') continue;
      this.running.delete(id);
      ended.push({
        id,
        status: entry.model.status === 'succeeded' ? 'succeeded' : 'failed',
        startedAtMs: entry.startedAtMs,
        finishedAtMs: entry.startedAtMs + entry.model.elapsedMs,
        outcome: entry.model.outcome(),
        failure: entry.model.failure,
      });
    }
    this.now += dt;
    return ended;
  }

  /** Advances until nothing is in flight; returns every migration that ended. */
  runUntilIdle(): SimulationCompletion[] {
    const ended: SimulationCompletion[] = [];
    while (this.running.size > 0) ended.push(...this.advance());
    return ended;
  }

  private shares(): Map<string, number> {
    const onLink = new Map<string, number>();
    for (const { model, links } of this.running.values()) {
      if (!model.usesLink) continue;
      for (const host of new Set(links)) onLink.set(host, (onLink.get(host) ?? 0) + 1);
    }
    const shares = new Map<string, number>();
    for (const [id, { spec, model, links }] of this.running) {
      // A migration about to join a link counts itself, so the share it steps with is the one it will get.
      const join = model.usesLink ? 0 : 1;
      const source = spec.source.migrationBandwidthMbps ?? this.constants.defaultBandwidthMbps;
      const target = spec.kind === 'compute' ? (spec.target.migrationBandwidthMbps ?? this.constants.defaultBandwidthMbps) : source;
      const targetHost = links[links.length - 1];
      shares.set(
        id,
        linkShareMbps(source, (onLink.get(links[0]) ?? 0) + join, target, (onLink.get(targetHost) ?? 0) + join),
      );
    }
    return shares;
  }
}
