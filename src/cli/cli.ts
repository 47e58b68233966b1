/**
 * The `ballast` command: a small dispatcher of subcommands. Each subcommand parses its own flags
 * (node:util parseArgs) and returns an exit code; a CliError becomes exactly one line on stderr
 * and exit code 2 (bad usage, bad file, bad snapshot).
 */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(args: string[], io: Io): Promise<number> | number;
}

/**
 * A command that talks to the API: `--help` (or `-h`) anywhere prints its usage; otherwise `run`
 * gets the arguments and the environment (BALLAST_URL, BALLAST_API_KEY, ...).
 */
export function apiCommand(
  spec: Omit<Command, 'run'>,
  run: (args: string[], io: Io, env: NodeJS.ProcessEnv) => Promise<number> | number,
): Command {
  return {
    ...spec,
    run(args: string[], io: Io) {
      if (args.includes('--help') || args.includes('-h')) {
        io.out(`${spec.usage}\n`);
        return 0;
      }
      return run(args, io, process.env);
    },
  };
}

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
  }
}

/** One line: newlines of nested messages folded. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

export function helpText(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: ballast <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'ballast <command> --help' for a command's options.",
  ].join('\n');
}

export async function runCli(argv: string[], commands: readonly Command[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(`${helpText(commands)}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = commands.find((c) => c.name === name);
  try {
    if (command === undefined) throw new CliError(`unknown command "${name}" (commands: ${commands.map((c) => c.name).join(', ')})`);
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof CliError) {
      io.err(`ballast: ${oneLine(error.message)}\n`);
      return error.exitCode;
    }
    // node:util parseArgs reports bad flags with a TypeError carrying an ERR_PARSE_ARGS_* code.
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      io.err(`ballast: ${name}: ${oneLine((error as Error).message)}\n`);
      return 2;
    }
    throw error;
  }
}

/** A whole-number flag of a command, from `min` to `max`, or a CliError naming the command and flag. */
export function wholeNumberFlag(command: string, flag: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw)) throw new CliError(`${command}: ${flag} must be a whole number from ${min} to ${max}, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new CliError(`${command}: ${flag} must be from ${min} to ${max}, got ${value}`);
  return value;
}

/** Why a file could not be read, in words. */
export function unreadableReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : String(code ?? error);
}
