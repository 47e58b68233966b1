import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * libvirt through its own client, `virsh`: one process per call, with the connection URI given
 * each time (`-c URI`) and output asked for in its machine-readable forms (`--rawstats`, `--raw`,
 * XML, `--uuid`). virsh speaks every libvirt transport (unix, ssh, tls) with the user's libvirt
 * configuration, and covers migration, job control and block copy, which no maintained Node
 * binding does (see the README, "How Ballast talks to libvirt").
 */

/** A failed libvirt call: which host, which URI, what libvirt said. Never a stack trace. */
export class LibvirtError extends Error {
  constructor(
    readonly uri: string,
    /** libvirt's own words, from virsh's `error:` lines. */
    readonly libvirtMessage: string,
    readonly hostId?: string,
    /** The daemon could not be reached at all (down, socket missing, ssh refused). */
    readonly unreachable: boolean = false,
  ) {
    super(`${hostId ? `host ${hostId} ` : ''}(${uri}): ${libvirtMessage}`);
    this.name = 'LibvirtError';
  }
}

export interface VirshCall {
  hostId?: string;
  /** Give up after this long (default 30 s); the virsh process is killed. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What a connection failure looks like in virsh's words (libvirt's VIR_ERR_NO_CONNECT, SYSTEM_ERROR on connect, ...). */
const UNREACHABLE = /failed to connect to the hypervisor|Failed to connect socket|cannot recv data|End of file while reading data|no connection driver available|Connection reset by peer|Broken pipe|client socket is closed|Cannot write data|unable to connect to server/i;

export class Virsh {
  constructor(private readonly binary = 'virsh') {}

  /** Runs `virsh -c URI ARGS...` and returns its standard output. */
  async run(uri: string, args: string[], call: VirshCall = {}): Promise<string> {
    return (await this.execute(uri, args, call)).stdout;
  }

  /**
   * Several commands against one daemon in one virsh process, over one connection: on a loaded
   * machine a virsh process costs far more than the questions it asks. Answers each command's
   * output, or null where it printed nothing (it failed: `errors` has libvirt's words, in order);
   * rejects only when virsh itself fails (the daemon cannot be reached).
   */
  async batch(uri: string, commands: string[][], call: VirshCall = {}): Promise<VirshBatch> {
    const marker = `ballast-${randomUUID()}`;
    // Each command ends with an echo of the marker: the last one to run succeeds unless virsh could not connect.
    const script = commands.map((command) => `${command.map(quoteArgument).join(' ')} ; echo ${marker}`).join(' ; ');
    const { stdout, stderr } = await this.execute(uri, [script], { ...call, what: commands.map((c) => c[0]).join('+') });
    const segments = stdout.split(marker);
    return { outputs: commands.map((_, i) => (segments[i]?.trim() ? segments[i] : null)), errors: libvirtWords(stderr) };
  }

  private execute(uri: string, args: string[], call: VirshCall & { what?: string }): Promise<{ stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        this.binary,
        ['-q', '-c', uri, ...args],
        { timeout: call.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024, signal: call.signal, env: { ...process.env, LC_ALL: 'C' } },
        (error, stdout, stderr) => {
          if (!error) return resolve({ stdout, stderr });
          const spawnError = error as NodeJS.ErrnoException & { killed?: boolean };
          if (spawnError.code === 'ENOENT') return reject(new LibvirtError(uri, `${this.binary} is not installed (apt-get install libvirt-clients)`, call.hostId, true));
          if (spawnError.name === 'AbortError') return reject(new LibvirtError(uri, 'the call was aborted', call.hostId));
          if (spawnError.killed) return reject(new LibvirtError(uri, `virsh ${call.what ?? args[0]} did not answer within ${call.timeoutMs ?? 30_000} ms`, call.hostId, true));
          const said = libvirtWords(stderr) || stdout.trim() || spawnError.message;
          reject(new LibvirtError(uri, said, call.hostId, UNREACHABLE.test(said)));
        },
      );
      child.stdin?.end();
    });
  }
}

export interface VirshBatch {
  /** Each command's output; null: it printed nothing (it failed). */
  outputs: (string | null)[];
  /** libvirt's words for the commands that failed, joined. */
  errors: string;
}

/** A command of a batch printed nothing: what libvirt said, as the error a single call would have thrown. */
export function batchFailure(uri: string, batch: VirshBatch, hostId?: string): LibvirtError {
  const said = batch.errors || 'virsh printed nothing';
  return new LibvirtError(uri, said, hostId, UNREACHABLE.test(said));
}

/** An argument as virsh's command-string parser reads it (double quotes, backslash escapes) when it needs quoting. */
function quoteArgument(argument: string): string {
  return /^[A-Za-z0-9_.:/@=+,-]+$/.test(argument) ? argument : `"${argument.replace(/[\\"]/g, '\\$&')}"`;
}

/**
 * Runs `virsh -c URI ARGS... FILE` with `document` (an XML definition) in FILE, a private temporary
 * file: virsh reads definitions from files only.
 */
export async function runWithDocument(virsh: Virsh, uri: string, args: string[], document: string, call: VirshCall = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ballast-virsh-'));
  try {
    const file = join(dir, 'document.xml');
    await writeFile(file, document, { mode: 0o600 });
    return await virsh.run(uri, [...args, file], call);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** virsh's `error: ...` lines, joined, without the prefix. */
function libvirtWords(stderr: string): string {
  return stderr
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => line.replace(/^error:\s*/, ''))
    .join('; ');
}

/** `key: value` or `key=value` lines (domjobinfo --rawstats, nodeinfo, domstats --raw). */
export function parseFields(text: string, separator: ':' | '='): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const at = line.indexOf(separator);
    if (at <= 0) continue;
    fields.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
  }
  return fields;
}

export function numberField(fields: Map<string, string>, key: string): number | undefined {
  const raw = fields.get(key);
  if (raw === undefined) return undefined;
  const value = Number.parseFloat(raw);
  return Number.isFinite(value) ? value : undefined;
}

/** `virsh domstats --raw` for several domains: one block per `Domain: 'name'` line. */
export function parseDomainStats(text: string): Map<string, Map<string, string>> {
  const domains = new Map<string, Map<string, string>>();
  let current: Map<string, string> | null = null;
  for (const line of text.split('\n')) {
    const header = /^Domain:\s*'(.*)'\s*$/.exec(line.trim());
    if (header) {
      current = new Map();
      domains.set(header[1], current);
      continue;
    }
    const at = line.indexOf('=');
    if (current && at > 0) current.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
  }
  return domains;
}

export interface NodeInfo {
  cpus: number;
  mhz: number;
  memoryMb: number;
}

export function parseNodeInfo(text: string): NodeInfo {
  const fields = parseFields(text, ':');
  const cpus = Number.parseInt(fields.get('CPU(s)') ?? '', 10);
  const mhz = Number.parseInt(fields.get('CPU frequency') ?? '', 10);
  const memoryKib = Number.parseInt(fields.get('Memory size') ?? '', 10);
  if (!(cpus > 0) || !(mhz > 0) || !(memoryKib > 0)) throw new Error(`unexpected nodeinfo: ${text.trim()}`);
  return { cpus, mhz, memoryMb: memoryKib / 1024 };
}
