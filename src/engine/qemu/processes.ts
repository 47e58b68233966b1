import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

export const execFileAsync = promisify(execFile);

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface ProcStat {
  state: string;
  startTime: string;
}

async function procStat(pid: number): Promise<ProcStat | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may itself contain spaces or parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], startTime: fields[19] };
  } catch {
    return null;
  }
}

/**
 * Whether `pid` is a live process whose command line contains `marker`. The marker guards against
 * a recycled pid; the state check matters because guests outlive the process that spawned them and
 * an init that does not reap leaves dead ones as zombies, which `kill(pid, 0)` still finds.
 */
export async function isLiveProcess(pid: number, marker: string): Promise<boolean> {
  const stat = await procStat(pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') return false;
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.split('\0').some((arg) => arg.includes(marker));
  } catch {
    return false;
  }
}

/** The kernel's start time of a process: with the pid, it names one process for its whole life. */
export async function processStartTime(pid: number): Promise<string | null> {
  return (await procStat(pid))?.startTime ?? null;
}

export async function isSameProcess(pid: number, startTime: string): Promise<boolean> {
  const stat = await procStat(pid);
  return stat !== null && stat.state !== 'Z' && stat.state !== 'X' && stat.startTime === startTime;
}

/** Sends SIGTERM, then SIGKILL if the process has not gone within `graceMs`; resolves once it is gone. */
export async function terminate(pid: number, marker: string, graceMs = 2_000): Promise<void> {
  if (!(await isLiveProcess(pid, marker))) return;
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!(await isLiveProcess(pid, marker))) return;
    await sleep(20);
  }
  signal(pid, 'SIGKILL');
  while (await isLiveProcess(pid, marker)) await sleep(20);
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}
