import type { EntityManager } from 'typeorm';

/**
 * The namespaces of Ballast's PostgreSQL advisory locks, in one place so that no two share a number.
 * Each lock is (namespace, hashtext(key)) and lasts until the end of the caller's transaction.
 */
export const ADVISORY_LOCKS = {
  /** The dispatcher of a cluster: one process starts its migrations at a time (key: cluster id). */
  dispatch: 7301,
  /**
   * The balancer of a cluster: one scheduler plans it at a time (key: cluster id). An operator's
   * approval or manual migration takes it too, waiting, so that no evaluation plans from a cluster
   * that they are changing.
   */
  plan: 7302,
  /** The supervisor of a maintenance operation: one process looks at it at a time (key: operation id). */
  maintenance: 7303,
  /** The collector of a cluster: one scheduler measures it at a time (key: cluster id). */
  collectMetrics: 7304,
  /** Creation of sample partitions, one at a time (key: ''); taken waiting, unlike the others. */
  samplePartitions: 7305,
  /** The rollup pass (downsampling and retention) of the samples, one process at a time (key: ''; a session lock). */
  sampleRollup: 7306,
} as const;

export type AdvisoryLock = keyof typeof ADVISORY_LOCKS;

/**
 * Takes the lock for the rest of `manager`'s transaction if no one holds it; false when another
 * transaction does (the caller skips its turn rather than wait).
 */
export async function tryAdvisoryXactLock(manager: EntityManager, lock: AdvisoryLock, key: string): Promise<boolean> {
  const [{ locked }]: { locked: boolean }[] = await manager.query(`SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS locked`, [
    ADVISORY_LOCKS[lock],
    key,
  ]);
  return locked;
}

/** Takes the lock for the rest of `manager`'s transaction, waiting for a transaction that holds it. */
export async function advisoryXactLock(manager: EntityManager, lock: AdvisoryLock, key: string): Promise<void> {
  await manager.query(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, [ADVISORY_LOCKS[lock], key]);
}
