import { randomUUID } from 'node:crypto';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { isSameProcess, processStartTime } from './processes.js';

/** Who holds a lock: a process (pid and start time, so a recycled pid is not mistaken for it) and a token. */
export interface LockOwner {
  pid: number;
  startTime: string;
  token: string;
}

export interface VmLockInfo {
  owner: LockOwner;
  /** What the holder is doing: `migration`, `register`. */
  purpose: string;
  migrationId?: string;
  since: string;
}

/**
 * The tokens this process still stands behind. An engine that closes drops its tokens, so its
 * locks and records look exactly like those of a worker that died, even to another engine in the
 * same process.
 */
const liveTokens = new Set<string>();

let ownStartTime: string | null = null;

export async function newOwner(): Promise<LockOwner> {
  ownStartTime ??= (await processStartTime(process.pid)) ?? 'unknown';
  const owner = { pid: process.pid, startTime: ownStartTime, token: randomUUID() };
  liveTokens.add(owner.token);
  return owner;
}

export function abandonOwner(owner: LockOwner): void {
  liveTokens.delete(owner.token);
}

export async function isOwnerAlive(owner: LockOwner): Promise<boolean> {
  if (owner.pid === process.pid) return liveTokens.has(owner.token);
  return isSameProcess(owner.pid, owner.startTime);
}

async function readLock(path: string): Promise<{ raw: string; info: VmLockInfo } | null> {
  try {
    const raw = await readFile(path, 'utf8');
    return { raw, info: JSON.parse(raw) as VmLockInfo };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** The live holder of the lock at `path`, or null when it is free or held by a dead owner. */
export async function lockHolder(path: string): Promise<VmLockInfo | null> {
  const lock = await readLock(path);
  if (!lock) return null;
  return (await isOwnerAlive(lock.info.owner)) ? lock.info : null;
}

/**
 * One VM, one operation: a lock file created exclusively. A lock whose owner is dead is taken
 * over (re-read just before removal, so a fresh lock is not removed by mistake).
 */
export class VmLock {
  private constructor(
    readonly path: string,
    readonly info: VmLockInfo,
  ) {}

  /** Takes the lock, or returns the live holder's description. */
  static async acquire(path: string, owner: LockOwner, purpose: string, migrationId?: string): Promise<VmLock | VmLockInfo> {
    const info: VmLockInfo = { owner, purpose, migrationId, since: new Date().toISOString() };
    for (let attempt = 0; attempt < 5; attempt++) {
      // Written aside and linked into place: the lock appears whole or not at all.
      const temporary = `${path}.${owner.token}.tmp`;
      await writeFile(temporary, JSON.stringify(info));
      try {
        await link(temporary, path);
        return new VmLock(path, info);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      } finally {
        await unlink(temporary).catch(() => undefined);
      }
      const current = await readLock(path);
      if (current && (await isOwnerAlive(current.info.owner))) return current.info;
      const again = await readLock(path);
      if (again && again.raw === current?.raw) await unlink(path).catch(() => undefined);
    }
    throw new Error(`could not take the lock ${path}`);
  }

  async release(): Promise<void> {
    const current = await readLock(this.path);
    if (current?.info.owner.token === this.info.owner.token) await unlink(this.path).catch(() => undefined);
  }
}

/** The lock's content whether its owner lives or not (a dead owner's lock says what it was doing). */
export async function readLockInfo(path: string): Promise<VmLockInfo | null> {
  return (await readLock(path))?.info ?? null;
}
