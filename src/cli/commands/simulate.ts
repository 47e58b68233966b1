import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ballastBalancer, noBalancing, OVERLOAD_LINE, runSimulation, type SimulationFigures, type SimulationRun, type SimulationSetup } from '../../closedloop/simulation.js';
import { svgChart } from '../../closedloop/svg-plot.js';
import { Trace, TraceError } from '../../metrics/trace.js';
import { CliError, unreadableReason, wholeNumberFlag, type Command, type Io } from '../cli.js';

const USAGE = `Usage: ballast simulate --vms vms.csv --usage usage.csv --hosts N --host-cpu-mhz C --host-memory-mb M
                        [--interval 300] [--threshold N] [--json] [--plot FILE.svg]

Replays a workload trace (docs/TRACE.md) on N identical hosts in virtual time, VMs first
placed round-robin in file order, through Ballast's smoothing, detection, planner and anti-thrash
rules, and compares it with no balancing from the same start.
  --vms FILE, --usage FILE   the trace's two CSV files (required)
  --hosts N                  number of identical hosts (required)
  --host-cpu-mhz C           CPU capacity of each host (required)
  --host-memory-mb M         memory of each host (required; the VMs' configured memory must fit)
  --interval S               seconds between samples and evaluations (default 300)
  --threshold N              migration threshold 1..5 (default 3)
  --json                     print {"ballast": {...}, "noBalancing": {...}}
  --plot FILE.svg            draw imbalance and hottest-host CPU over time for both`;

export const simulateCommand: Command = {
  name: 'simulate',
  summary: 'replay a workload trace with and without Ballast (offline)',
  usage: USAGE,
  async run(args: string[], io: Io): Promise<number> {
    const { values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        vms: { type: 'string' },
        usage: { type: 'string' },
        hosts: { type: 'string' },
        'host-cpu-mhz': { type: 'string' },
        'host-memory-mb': { type: 'string' },
        interval: { type: 'string', default: '300' },
        threshold: { type: 'string', default: '3' },
        json: { type: 'boolean', default: false },
        plot: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      io.out(`${USAGE}\n`);
      return 0;
    }
    for (const flag of ['vms', 'usage', 'hosts', 'host-cpu-mhz', 'host-memory-mb'] as const) {
      if (values[flag] === undefined) throw new CliError(`simulate: --${flag} is required`);
    }
    const setup: SimulationSetup = {
      trace: loadTrace(values.vms as string, values.usage as string),
      hosts: whole('--hosts', values.hosts as string, 1, 10_000),
      hostCpuMhz: whole('--host-cpu-mhz', values['host-cpu-mhz'] as string, 1, 1e9),
      hostMemoryMb: whole('--host-memory-mb', values['host-memory-mb'] as string, 1, 1e12),
      intervalSeconds: whole('--interval', values.interval, 1, 86_400),
      threshold: whole('--threshold', values.threshold, 1, 5),
    };
    checkFits(setup);
    const ballast = runSimulation(setup, ballastBalancer());
    const none = runSimulation(setup, noBalancing);
    if (values.plot !== undefined) await writePlot(values.plot, setup, ballast, none);
    io.out(values.json ? `${JSON.stringify({ ballast: ballast.figures, noBalancing: none.figures }, null, 2)}\n` : formatFigures(setup, ballast.figures, none.figures));
    return 0;
  },
};

function loadTrace(vms: string, usage: string): Trace {
  const vmsCsv = readText(vms);
  const usageCsv = readText(usage);
  try {
    return Trace.parse(vmsCsv, usageCsv, '');
  } catch (error) {
    if (error instanceof TraceError) throw new CliError(`simulate: ${error.message.replace(/^vms\.csv/, vms).replace(/^usage\.csv/, usage)}`);
    throw error;
  }
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(`simulate: cannot read "${file}": ${unreadableReason(error)}`);
  }
}

const whole = (flag: string, raw: string, min: number, max: number) => wholeNumberFlag('simulate', flag, raw, min, max);

/** The round-robin start must fit the hosts' memory, or no comparison means anything. */
function checkFits(setup: SimulationSetup): void {
  const perHost = new Float64Array(setup.hosts);
  setup.trace.vms.forEach((vm, i) => (perHost[i % setup.hosts] += vm.memCapacityMb));
  const worst = Math.max(...perHost);
  if (worst > setup.hostMemoryMb) {
    throw new CliError(`simulate: the VMs' memory does not fit: round-robin puts ${worst} MB on one host, --host-memory-mb is ${setup.hostMemoryMb}`);
  }
}

async function writePlot(file: string, setup: SimulationSetup, ballast: SimulationRun, none: SimulationRun): Promise<void> {
  const pct = (v: number) => `${(v * 100).toFixed(0)} %`;
  const svg = svgChart(`${setup.trace.vms.length} VMs on ${setup.hosts} hosts: Ballast vs no balancing`, ballast.series.at, [
    {
      title: 'Imbalance (standard deviation of host CPU utilization)',
      unit: (v) => v.toFixed(2),
      lines: [
        { label: 'no balancing', color: '#d62728', values: none.series.imbalance },
        { label: 'Ballast', color: '#1f77b4', values: ballast.series.imbalance },
      ],
    },
    {
      title: 'Hottest host CPU (demand / capacity)',
      unit: pct,
      reference: { value: OVERLOAD_LINE, label: 'overloaded above 80 %' },
      lines: [
        { label: 'no balancing', color: '#d62728', values: none.series.hottestCpu },
        { label: 'Ballast', color: '#1f77b4', values: ballast.series.hottestCpu },
      ],
    },
  ]);
  try {
    await writeFile(file, svg);
  } catch (error) {
    throw new CliError(`simulate: cannot write "${file}": ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

export function formatFigures(setup: SimulationSetup, ballast: SimulationFigures, none: SimulationFigures): string {
  const days = (setup.trace.end - setup.trace.start) / 86_400_000;
  const rows: [string, (f: SimulationFigures) => string][] = [
    ['time-averaged imbalance', (f) => f.avgImbalance.toFixed(4)],
    ['overloaded host-hours (> 80 % CPU)', (f) => f.overloadedHostHours.toFixed(1)],
    ['peak host CPU', (f) => `${(f.peakHostCpu * 100).toFixed(1)} %`],
    ['migrations', (f) => String(f.migrations)],
    ['GB moved', (f) => f.gbMoved.toFixed(1)],
    ['migrations per VM per day', (f) => f.migrationsPerVmDay.toFixed(3)],
  ];
  const width = Math.max(...rows.map((r) => r[0].length));
  const lines = [
    `${setup.trace.vms.length} VMs on ${setup.hosts} hosts of ${setup.hostCpuMhz} MHz / ${setup.hostMemoryMb} MB, ${days.toFixed(1)} days, every ${setup.intervalSeconds} s, threshold ${setup.threshold}`,
    '',
    `${''.padEnd(width)}  ${'Ballast'.padStart(10)}  ${'no balancing'.padStart(12)}`,
    ...rows.map(([label, f]) => `${label.padEnd(width)}  ${f(ballast).padStart(10)}  ${f(none).padStart(12)}`),
  ];
  if (none.overloadedHostHours > 0) {
    lines.push('', `Ballast's overloaded host-hours are ${((ballast.overloadedHostHours / none.overloadedHostHours) * 100).toFixed(0)} % of no balancing's.`);
  }
  return `${lines.join('\n')}\n`;
}
