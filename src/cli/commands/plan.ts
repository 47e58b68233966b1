import { readFile } from 'node:fs/promises';
import { JsonInputError, parseJsonInput } from '../../common/json-input.js';
import { parseArgs } from 'node:util';
import { plan, SnapshotError, validateSnapshot, type PlanResult, type Snapshot } from '../../planner/index.js';
import { CliError, unreadableReason, wholeNumberFlag, type Command, type Io } from '../cli.js';

const USAGE = `Usage: ballast plan --snapshot FILE [--json] [--threshold N] [--max-moves N]

Plans moves for a cluster snapshot (docs/FORMAT.md) offline.
  --snapshot FILE   the snapshot JSON file (required)
  --json            print the plan as FORMAT.md JSON (with the decision trace under "trace")
  --threshold N     migration threshold 1 (conservative) .. 5 (aggressive); default: the policy's
  --max-moves N     cap on balancing moves; default: the policy's maxMovesPerRun`;

export const planCommand: Command = {
  name: 'plan',
  summary: 'plan moves for a snapshot file (offline)',
  usage: USAGE,
  async run(args: string[], io: Io): Promise<number> {
    const { values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        snapshot: { type: 'string' },
        json: { type: 'boolean', default: false },
        threshold: { type: 'string' },
        'max-moves': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      io.out(`${USAGE}\n`);
      return 0;
    }
    if (values.snapshot === undefined) throw new CliError('plan: --snapshot FILE is required');
    const threshold = values.threshold === undefined ? undefined : wholeNumber('--threshold', values.threshold, 1, 5);
    const maxMoves = values['max-moves'] === undefined ? undefined : wholeNumber('--max-moves', values['max-moves'], 0, 1_000_000);
    const snapshot = await loadSnapshot(values.snapshot);
    const result = plan(snapshot, { threshold, maxMoves });
    io.out(values.json ? `${JSON.stringify({ ...result.plan, trace: result.trace }, null, 2)}\n` : formatPlan(snapshot, result));
    return 0;
  },
};

const wholeNumber = (flag: string, raw: string, min: number, max: number) => wholeNumberFlag('plan', flag, raw, min, max);

/** Reads and validates a snapshot file; every failure is a one-line CliError naming the file or field. */
export async function loadSnapshot(file: string): Promise<Snapshot> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new CliError(`cannot read snapshot file "${file}": ${unreadableReason(error)}`);
  }
  let doc: unknown;
  try {
    doc = parseJsonInput(bytes, file);
  } catch (error) {
    if (error instanceof JsonInputError) throw new CliError(error.message.replace(': is not valid JSON', ': not valid JSON'));
    throw error;
  }
  try {
    return validateSnapshot(doc);
  } catch (error) {
    if (error instanceof SnapshotError) throw new CliError(`${error.field}: ${error.reason}`);
    throw error;
  }
}

/** The human-readable plan: moves, before/after figures, unresolved items. */
export function formatPlan(snapshot: Snapshot, result: PlanResult): string {
  const { plan: p, trace } = result;
  const s = trace.summary;
  const memory = new Map(snapshot.vms.map((vm) => [vm.id, vm.powerState === 'on' ? vm.memoryMb : 0]));
  const gb = (mb: number) => `${(mb / 1024).toFixed(1)} GB`;
  const lines: string[] = [];
  lines.push(
    `Plan for cluster ${p.clusterId}: threshold ${trace.threshold.threshold}, ${p.moves.length} move${p.moves.length === 1 ? '' : 's'}, ${gb(s.memoryMovedMb)} of memory, about ${Math.round(s.estimatedSeconds)} s of migration`,
  );
  lines.push('');
  if (p.moves.length === 0) {
    lines.push('No moves.');
  } else {
    // One row per move of the trace (the same order as plan.moves): what moved where, and why.
    const rows = trace.moves.map((t) => [
      String(t.index + 1),
      t.vmId,
      t.fromHostId,
      t.toHostId,
      String(p.moves[t.index].priority),
      p.moves[t.index].reason,
      t.step,
      gb(memory.get(t.vmId) ?? 0),
      t.imbalanceAfter.toFixed(4),
      t.note ?? '',
    ]);
    lines.push(...table(['#', 'VM', 'From', 'To', 'Priority', 'Reason', 'Step', 'Memory', 'Imbalance after', 'Note'], rows));
  }
  lines.push('');
  lines.push(`Imbalance:         ${p.imbalanceBefore.toFixed(4)} -> ${p.imbalanceAfter.toFixed(4)}`);
  lines.push(`Must rules broken: ${s.mustRulesBrokenBefore} -> ${s.mustRulesBrokenAfter}`);
  lines.push(`Moves by reason:   ${Object.entries(s.byReason).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  lines.push(`Balancing:         ${s.balanceStop}`);
  if (p.unresolved.length > 0) {
    lines.push('');
    lines.push(`Unresolved (${p.unresolved.length}):`);
    for (const u of p.unresolved) lines.push(`  ${u.vmId ?? u.ruleId ?? '-'}: ${u.reason}`);
  }
  return `${lines.join('\n')}\n`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}
