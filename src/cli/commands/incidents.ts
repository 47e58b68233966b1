import { parseArgs } from 'node:util';
import { INCIDENT_STATES, type IncidentState, type IncidentView } from '../../closedloop/closed-loop-status.js';
import type { Page } from '../../common/query-params.js';
import { apiClient } from '../api-client.js';
import { apiCommand, CliError, type Command, type Io } from '../cli.js';

const USAGE = `Usage:
  ballast incidents CLUSTER [--state open|closed] [--limit N] [--json]

The cluster's incidents of failed hosts, newest first, from the API at BALLAST_URL (default
http://localhost:3000): when each host failed and answered again, the VMs that went down and what
HA did about them (restarts planned, VMs found running, restarts cancelled). --json prints the
API's answer.`;

const time = (iso: string | null) => (iso === null ? 'open' : `${iso.slice(0, 10)} ${iso.slice(11, 19)}`);

function actionCounts(incident: IncidentView): string {
  const count = (action: string) => incident.actions.filter((a) => a.action === action).length;
  const parts = [`${count('restart-planned')} restarts planned`, `${count('found-running')} found running`];
  const cancelled = count('restart-cancelled');
  if (cancelled > 0) parts.push(`${cancelled} restarts cancelled`);
  if (incident.stillDown.length > 0) parts.push(`${incident.stillDown.length} still down`);
  return parts.join(', ');
}

export function incidentsTable(page: Page<IncidentView>): string {
  if (page.items.length === 0) return 'no incidents\n';
  const hostWidth = Math.max(4, ...page.items.map((i) => i.hostId.length));
  const lines = [`${'HOST'.padEnd(hostWidth)}  ${'FAILED'.padEnd(19)}  ${'ENDED'.padEnd(19)}  VMS  WHAT HA DID`];
  for (const i of page.items) {
    lines.push(`${i.hostId.padEnd(hostWidth)}  ${time(i.startedAt)}  ${time(i.endedAt).padEnd(19)}  ${String(i.vmIds.length).padStart(3)}  ${actionCounts(i)}`);
  }
  if (page.total > page.offset + page.items.length) lines.push(`(${page.total - page.offset - page.items.length} older: --limit)`);
  return `${lines.join('\n')}\n`;
}

async function run(args: string[], io: Io, env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { json: { type: 'boolean' }, state: { type: 'string' }, limit: { type: 'string' } },
  });
  if (positionals.length !== 1) throw new CliError('expected "incidents CLUSTER" (see ballast incidents --help)', 2);
  if (values.state !== undefined && !INCIDENT_STATES.includes(values.state as IncidentState)) {
    throw new CliError(`--state: must be one of ${INCIDENT_STATES.join(', ')}, got "${values.state}"`, 2);
  }
  const query = new URLSearchParams();
  if (values.state) query.set('state', values.state);
  if (values.limit) query.set('limit', values.limit);
  const page = await apiClient(env).get<Page<IncidentView>>(`/clusters/${encodeURIComponent(positionals[0])}/incidents${query.size > 0 ? `?${query}` : ''}`);
  io.out(values.json ? `${JSON.stringify(page, null, 2)}\n` : incidentsTable(page));
  return 0;
}

export const incidentsCommand: Command = apiCommand({ name: 'incidents', summary: "a cluster's incidents of failed hosts and what HA did, through the API", usage: USAGE }, run);
