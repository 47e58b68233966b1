import { createHash, randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A file name for an id: letters, digits, `.`, `_` and `-` stay, every other byte becomes `~XX`,
 * so any id is safe as a directory name and the id can be read back from it.
 */
export function fileNameFor(id: string): string {
  if (id.length === 0) throw new Error('an empty id cannot name a file');
  const encoded = [...Buffer.from(id, 'utf8')]
    .map((byte) => {
      const char = String.fromCharCode(byte);
      return /[A-Za-z0-9._-]/.test(char) ? char : `~${byte.toString(16).padStart(2, '0')}`;
    })
    .join('');
  return encoded === '.' || encoded === '..' ? encoded.replaceAll('.', '~2e') : encoded;
}

export function idFromFileName(name: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < name.length; i++) {
    if (name[i] === '~') {
      bytes.push(parseInt(name.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(name.charCodeAt(i));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** sun_path holds 108 bytes with its terminating zero. */
const UNIX_SOCKET_PATH_MAX = 107;

/**
 * Where the socket `name` of the instance in `dir` lives: in `dir` when the path fits the unix
 * socket limit, otherwise under a short directory in the OS temp dir, named by a hash of the long
 * path so that every process derives the same place.
 */
export function socketPathFor(dir: string, name: string): string {
  const natural = join(dir, name);
  if (Buffer.byteLength(natural) <= UNIX_SOCKET_PATH_MAX) return natural;
  const short = join(shortSocketDir(), `${createHash('sha256').update(natural).digest('hex').slice(0, 24)}.sock`);
  if (Buffer.byteLength(short) > UNIX_SOCKET_PATH_MAX) {
    throw new Error(`no QMP socket path under ${UNIX_SOCKET_PATH_MAX} bytes for ${natural} (TMPDIR is too long too)`);
  }
  return short;
}

export function shortSocketDir(): string {
  return join(tmpdir(), 'ballast-qmp');
}

export async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Writes through a temporary file and a rename, so a reader never sees half a document. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temporary, `${JSON.stringify(value, null, 2)}\n`);
  await rename(temporary, path);
}
