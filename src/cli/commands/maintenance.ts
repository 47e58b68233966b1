import { parseArgs } from 'node:util';
import type { EvacuationPreview, ExitResult } from '../../maintenance/maintenance.service.js';
import type { OperationView } from '../../maintenance/operation-view.js';
import { isFinal, type MigrationState } from '../../migrations/migration-state.js';
import { apiClient } from '../api-client.js';
import { apiCommand, CliError, type Command } from '../cli.js';

const USAGE = `Usage:
  ballast maintenance enter HOST [--wait] [--dry-run] [--include-powered-off] [--timeout SECONDS]
  ballast maintenance exit HOST [--return-vms] [--wait]
  ballast maintenance status OPERATION_ID

Talks to the API at BALLAST_URL (default http://localhost:3000). With enter --wait, a live progress
bar (VMs moved / total, GB, throughput, ETA) until the host is in maintenance (exit 0) or the
operation stalls (exit 1, with the reasons). With exit --wait, until the evacuation's last
migrations have ended and, with --return-vms, its VMs are back home (exit 0), or some of them could
not come back (exit 1, with the reasons).`;

/** Where progress goes: a terminal gets one line redrawn in place, anything else a line per change. */
interface Output {
  write(text: string): void;
  isTTY?: boolean;
}

const BAR_WIDTH = 24;

function rate(mbps: number): string {
  return mbps >= 1000 ? `${(mbps / 1000).toFixed(1)} Gb/s` : `${mbps.toFixed(0)} Mb/s`;
}

function duration(seconds: number | null): string {
  if (seconds === null) return '--';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

/** `[#########.........]  12/30 VMs  48.0/120.0 GB  2.4 Gb/s  ETA 35 s  8 in flight` */
export function progressLine(op: OperationView): string {
  const p = op.progress;
  const done = p.vmsTotal === 0 ? 1 : p.vmsMoved / p.vmsTotal;
  const filled = Math.round(done * BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`;
  const failed = p.vmsFailed > 0 ? `  ${p.vmsFailed} failed` : '';
  return `${bar} ${p.vmsMoved}/${p.vmsTotal} VMs  ${p.gbMoved.toFixed(1)}/${p.gbTotal.toFixed(1)} GB  ${rate(p.throughputMbps)}  ETA ${duration(p.etaSeconds)}  ${p.vmsInFlight} in flight${failed}`;
}

function summary(op: OperationView): string {
  const seconds = ((op.finishedAt ? Date.parse(String(op.finishedAt)) : Date.now()) - Date.parse(String(op.createdAt))) / 1000;
  return `${op.progress.vmsMoved} VMs, ${op.progress.gbMoved.toFixed(1)} GB moved in ${duration(seconds)}`;
}

/** Follows an operation until the host is in maintenance (0), or it stalls or is cancelled (1). */
async function follow(api: ReturnType<typeof apiClient>, id: string, out: Output, pollMs: number): Promise<number> {
  let last = '';
  for (;;) {
    const op = await api.get<OperationView>(`/maintenance/${id}`);
    const line = progressLine(op);
    if (out.isTTY) out.write(`\r${line}\u001b[K`);
    else if (line !== last) out.write(`${line}\n`);
    last = line;
    if (op.state === 'completed') {
      out.write(`${out.isTTY ? '\n' : ''}host ${op.hostId} is in maintenance (${summary(op)})\n`);
      return 0;
    }
    if (op.state === 'stalled' || op.state === 'cancelled') {
      out.write(`${out.isTTY ? '\n' : ''}maintenance of host ${op.hostId} ${op.state} (${summary(op)})\n`);
      for (const r of op.reasons ?? []) out.write(`  ${r.vmId}: ${r.reason}\n`);
      if (op.state === 'stalled') out.write(`cancel with POST ${api.baseUrl}/api/v1/maintenance/${op.id}/cancel, or retry with .../retry\n`);
      return 1;
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

interface MigrationRow {
  vmId: string;
  state: MigrationState;
  error: string | null;
}

async function planMigrations(api: ReturnType<typeof apiClient>, planId: string): Promise<MigrationRow[]> {
  const rows: MigrationRow[] = [];
  for (;;) {
    const page = await api.get<{ items: MigrationRow[]; total: number }>(`/migrations?planId=${planId}&offset=${rows.length}`);
    rows.push(...page.items);
    if (page.items.length === 0 || rows.length >= page.total) return rows;
  }
}

/**
 * After an exit: waits for the evacuation's migrations still running (they finish, the host is
 * connected meanwhile), then for the VMs going back home. 0 when every one is home, 1 otherwise.
 */
async function followExit(api: ReturnType<typeof apiClient>, result: ExitResult, out: Output, pollMs: number): Promise<number> {
  const pause = () => new Promise((resolve) => setTimeout(resolve, pollMs));
  const hostId = result.host.id;
  if (result.operationId) {
    let told = false;
    for (;;) {
      const op = await api.get<OperationView>(`/maintenance/${result.operationId}`);
      if (op.progress.vmsInFlight === 0) break;
      if (!told) out.write(`waiting for ${op.progress.vmsInFlight} migrations of the evacuation to end\n`);
      told = true;
      await pause();
    }
  }
  if (!result.returnPlan) {
    out.write(`host ${hostId} is back\n`);
    return 0;
  }
  const total = result.returnPlan.plan.moves.length;
  let last = '';
  for (;;) {
    const rows = await planMigrations(api, result.returnPlan.id);
    const home = rows.filter((m) => m.state === 'succeeded').length;
    const line = `${home}/${total} VMs home`;
    if (out.isTTY) out.write(`\r${line}\u001b[K`);
    else if (line !== last) out.write(`${line}\n`);
    last = line;
    if (rows.every((m) => isFinal(m.state))) {
      if (out.isTTY) out.write('\n');
      const lost = rows.filter((m) => m.state !== 'succeeded');
      if (lost.length === 0) {
        out.write(`host ${hostId} is back with its ${total} VMs\n`);
        return 0;
      }
      out.write(`host ${hostId} is back; ${lost.length} of its ${total} VMs did not return\n`);
      for (const m of lost) out.write(`  ${m.vmId}: ${m.state}: ${m.error ?? 'no reason given'}\n`);
      return 1;
    }
    await pause();
  }
}

function printPreview(preview: EvacuationPreview, out: Output): void {
  out.write(`dry run: host ${preview.hostId} can be emptied: ${preview.vmsToMove} VMs, ${preview.memoryToMoveGb} GB\n`);
  for (const move of preview.plan.moves) out.write(`  ${move.vmId.padEnd(20)} ${move.fromHostId} -> ${move.toHostId}  (${move.reason})\n`);
}

async function run(args: string[], out: Output, env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      wait: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      'include-powered-off': { type: 'boolean' },
      timeout: { type: 'string' },
      'return-vms': { type: 'boolean' },
    },
  });
  const [action, target, ...extra] = positionals;
  if (!action || !target || extra.length > 0) {
    throw new CliError('expected "maintenance enter HOST", "maintenance exit HOST" or "maintenance status OPERATION" (see ballast --help)', 2);
  }
  const api = apiClient(env);
  const pollMs = Number(env.BALLAST_POLL_MS ?? 1000);
  const host = encodeURIComponent(target);
  switch (action) {
    case 'enter': {
      let timeoutSeconds: number | undefined;
      if (values.timeout !== undefined) {
        timeoutSeconds = Number(values.timeout);
        if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1) throw new CliError(`--timeout must be a whole number of seconds, got "${values.timeout}"`, 2);
      }
      const result = await api.post<OperationView | EvacuationPreview>(`/hosts/${host}/maintenance`, {
        dryRun: values['dry-run'] ?? false,
        includePoweredOff: values['include-powered-off'] ?? false,
        ...(timeoutSeconds ? { timeoutSeconds } : {}),
      });
      if ('dryRun' in result) {
        printPreview(result, out);
        return 0;
      }
      out.write(`host ${result.hostId} is entering maintenance: ${result.progress.vmsTotal} VMs, ${result.progress.gbTotal.toFixed(1)} GB to move (operation ${result.id})\n`);
      return values.wait ? follow(api, result.id, out, pollMs) : 0;
    }
    case 'exit': {
      const result = await api.delete<ExitResult>(`/hosts/${host}/maintenance`, { returnVms: values['return-vms'] ?? false });
      out.write(`host ${result.host.id} is connected\n`);
      if (result.returnPlan) out.write(`bringing back ${result.returnPlan.plan.moves.length} VMs (plan ${result.returnPlan.id})\n`);
      for (const vm of result.notReturned ?? []) out.write(`  ${vm.vmId} stays: ${vm.reason}\n`);
      return values.wait ? followExit(api, result, out, pollMs) : 0;
    }
    case 'status': {
      const op = await api.get<OperationView>(`/maintenance/${encodeURIComponent(target)}`);
      out.write(`host ${op.hostId}: ${op.state}\n${progressLine(op)}\n`);
      return 0;
    }
    default:
      throw new CliError(`unknown maintenance action "${action}" (enter, exit or status)`, 2);
  }
}

export const maintenanceCommand: Command = apiCommand({ name: 'maintenance', summary: 'put a host in maintenance (evacuate it) or bring it back, through the API', usage: USAGE }, (args, io, env) =>
  run(args, { write: io.out, isTTY: process.stdout.isTTY === true }, env),
);
