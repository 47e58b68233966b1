import pg from 'pg';
import type { EngineName } from '../engine/migration-engine.js';
import { type EngineBacklog, unfinishedOfOtherEngines } from '../migrations/migrations.repository.js';
import { NOT_STARTED_STATES, UNFINISHED_STATES } from '../migrations/migration-state.js';

/**
 * A VM belongs to the engine that knows it: a migration created under the simulated engine moves a
 * modelled VM that the qemu or libvirt engine would run as a stand-in of its own (and record as
 * moved). So Ballast does not start with another engine while such migrations have not ended.
 */
export class EngineSwitchError extends Error {}

/** Why starting with `engine` is refused, in one line, or null. */
export function engineSwitchProblem(engine: EngineName, backlog: readonly EngineBacklog[]): string | null {
  if (backlog.length === 0) return null;
  const states = UNFINISHED_STATES.join('/');
  const owners = backlog.map((b) => `${b.count} ${states} migration${b.count === 1 ? '' : 's'} of the ${b.engine} engine (cluster${b.clusters.length === 1 ? '' : 's'} ${b.clusters.join(', ')})`);
  const first = backlog[0].engine;
  return (
    `MIGRATION_ENGINE=${engine}, but the database has ${owners.join(' and ')}, whose VMs only that engine knows: ` +
    `start with MIGRATION_ENGINE=${first} until they end, or cancel them there (POST /api/v1/migrations/:id/cancel; ${NOT_STARTED_STATES.join(' and ')} ones end at once)`
  );
}

/** Refuses (EngineSwitchError, one line) a start whose engine does not own the unfinished migrations. */
export async function checkEngineSwitch(databaseUrl: string, engine: EngineName): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    const problem = engineSwitchProblem(engine, await unfinishedOfOtherEngines(client, engine));
    if (problem) throw new EngineSwitchError(problem);
  } finally {
    await client.end();
  }
}
