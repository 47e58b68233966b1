import { parseArgs } from 'node:util';
import type { ClusterStatus } from '../../status/status.service.js';
import { apiClient } from '../api-client.js';
import { apiCommand, CliError, type Command, type Io } from '../cli.js';

const USAGE = `Usage:
  ballast status CLUSTER [--json]

The cluster at a glance, from the API at BALLAST_URL (default http://localhost:3000): its imbalance
and the policy's target, each host's CPU and memory utilization (bars; ! above the overload line),
the freshness of its metrics, the last and next evaluation and the open incidents of failed
hosts. --json prints the API's answer.`;

const BAR_WIDTH = 20;

/** Dates travel as ISO strings. */
type StatusAnswer = Omit<ClusterStatus, 'at'> & { at: string };

/** `[##########..........]  50 %`, with `!` when above the overload line. */
export function utilizationBar(utilization: number, line: number | null): string {
  const filled = Math.max(0, Math.min(BAR_WIDTH, Math.round(utilization * BAR_WIDTH)));
  const over = line !== null && utilization > line ? '!' : ' ';
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${`${Math.round(utilization * 100)}`.padStart(3)} %${over}`;
}

function ago(iso: string | Date | null, now: number): string {
  if (iso === null) return 'never';
  const seconds = Math.max(0, Math.round((now - Date.parse(String(iso))) / 1000));
  return seconds < 120 ? `${seconds} s ago` : seconds < 7200 ? `${Math.round(seconds / 60)} min ago` : `${Math.round(seconds / 3600)} h ago`;
}

const clock = (iso: string | Date) => new Date(String(iso)).toISOString().slice(11, 19);

export function statusTable(s: StatusAnswer): string {
  const now = Date.parse(s.at);
  const target = s.targetImbalance === null ? 'no balancing at this threshold' : `target ${s.targetImbalance}: ${s.aboveTarget ? 'above' : 'met'}`;
  const line = s.overloadLine.cpu === null && s.overloadLine.memory === null
    ? 'hard caps only'
    : `CPU ${s.overloadLine.cpu === null ? '-' : `${Math.round(s.overloadLine.cpu * 100)} %`}, memory ${s.overloadLine.memory === null ? '-' : `${Math.round(s.overloadLine.memory * 100)} %`}`;
  const m = s.metrics;
  const failing = m.failingSince ? `; FAILING since ${clock(m.failingSince)}: ${m.error}` : '';
  const last = s.planning.last;
  const lines = [
    `cluster ${s.clusterId}: imbalance ${s.imbalance.toFixed(4)} (${target}); overloaded above ${line}`,
    `metrics: ${m.source}, newest sample ${ago(m.newestSampleAt, now)}, ${m.staleVms} of ${m.poweredOnVms} powered-on VMs stale${failing}`,
    `planning: ${last ? `last ${clock(last.at)} ${last.outcome}: ${last.reason}` : 'no run yet'}${s.planning.nextAt ? `; next ${clock(s.planning.nextAt)}` : ''}`,
    ...(s.closedLoop?.incidents ?? []).map(
      (i) =>
        `incident: ${i.hostId} failed since ${clock(i.startedAt)}: ${i.vmIds.length} VMs went down, ${i.stillDown.length} still down` +
        (i.unplaced.length > 0 ? `, ${i.unplaced.length} cannot be restarted now` : ''),
    ),
    '',
  ];
  const idWidth = Math.max(4, ...s.hosts.map((h) => h.id.length));
  const stateWidth = Math.max(5, ...s.hosts.map((h) => h.state.length));
  lines.push(`${'HOST'.padEnd(idWidth)}  ${'STATE'.padEnd(stateWidth)}  VMS  ${'CPU'.padEnd(BAR_WIDTH + 9)}  MEMORY`);
  for (const h of s.hosts) {
    lines.push(
      `${h.id.padEnd(idWidth)}  ${h.state.padEnd(stateWidth)}  ${String(h.vmCount).padStart(3)}  ${utilizationBar(h.cpuUtilization, s.overloadLine.cpu)}  ${utilizationBar(h.memoryUtilization, s.overloadLine.memory)}`.trimEnd(),
    );
  }
  return `${lines.join('\n')}\n`;
}

async function run(args: string[], io: Io, env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, strict: true, options: { json: { type: 'boolean' } } });
  if (positionals.length !== 1) throw new CliError('expected "status CLUSTER" (see ballast status --help)', 2);
  const status = await apiClient(env).get<StatusAnswer>(`/clusters/${encodeURIComponent(positionals[0])}/status`);
  io.out(values.json ? `${JSON.stringify(status, null, 2)}\n` : statusTable(status));
  return 0;
}

export const statusCommand: Command = apiCommand({ name: 'status', summary: "a cluster at a glance: imbalance, hosts' utilization, metrics, planning, through the API", usage: USAGE }, run);
