import { parseArgs } from 'node:util';
import type { MigrationWithEvents } from '../../migrations/migrations.service.js';
import type { ManualMigration } from '../../plans/manual-migration.service.js';
import { apiClient } from '../api-client.js';
import { apiCommand, CliError, type Command, type Io } from '../cli.js';

const USAGE = `Usage:
  ballast vm migrate VM HOST [--wait]

Migrates the VM to the host (vMotion), if the planner's filters allow it: capacity, rules,
compatibility, the host's state; a refusal is one line with the reason (exit 1). With --wait,
follows the migration until it ends: exit 0 when it succeeded, 1 when it failed or was cancelled.
Talks to the API at BALLAST_URL (default http://localhost:3000).`;

/** ` precopy, 1.2 GB sent` while the engine reports progress. */
function progress(migration: MigrationWithEvents): string {
  const p = migration.progress;
  return p ? ` ${p.phase}, ${(p.transferredBytes / 1e9).toFixed(1)} GB sent` : '';
}

/** Follows a migration until it ends: 0 succeeded, 1 failed or cancelled (with why, on one line). */
async function follow(api: ReturnType<typeof apiClient>, id: string, io: Io, pollMs: number): Promise<number> {
  let last = '';
  for (;;) {
    const migration = await api.get<MigrationWithEvents>(`/migrations/${id}`);
    if (migration.state === 'succeeded') {
      io.out(`VM ${migration.vmId} is on ${migration.targetHostId} (migration ${id} succeeded)\n`);
      return 0;
    }
    if (migration.state === 'failed' || migration.state === 'cancelled') {
      throw new CliError(`migration ${id} of VM ${migration.vmId} ${migration.state}: ${migration.error ?? 'no reason given'}`, 1);
    }
    const line = `${migration.state}${progress(migration)}`;
    if (line !== last) io.out(`  ${line}\n`);
    last = line;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

async function run(args: string[], io: Io, env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, strict: true, options: { wait: { type: 'boolean' } } });
  const [action, vmId, hostId, ...extra] = positionals;
  if (action !== 'migrate' || !vmId || !hostId || extra.length > 0) throw new CliError('expected "vm migrate VM HOST [--wait]" (see ballast vm --help)', 2);
  const api = apiClient(env);
  const started = await api.post<ManualMigration>(`/vms/${encodeURIComponent(vmId)}/migrate`, { hostId });
  io.out(`migrating VM ${vmId} from ${started.move.fromHostId} to ${started.move.toHostId} (migration ${started.migrationId})\n`);
  return values.wait ? follow(api, started.migrationId, io, Number(env.BALLAST_POLL_MS ?? 1000)) : 0;
}

export const vmCommand: Command = apiCommand({ name: 'vm', summary: 'migrate a VM to a chosen host (vMotion), through the API', usage: USAGE }, run);
