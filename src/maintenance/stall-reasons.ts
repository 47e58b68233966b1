/** What the operation knows of a VM that could not leave. */
export interface StallFacts {
  /** Per VM: the targets of its failed or cancelled migrations in this round. */
  attempts: ReadonlyMap<string, readonly string[]>;
  /** Per VM: the error of its last failed or cancelled migration. */
  lastError: ReadonlyMap<string, string | null>;
  /** Per VM: why the planner found no other host for it. */
  unfit: ReadonlyMap<string, string>;
}

/** Why each VM still on the host did not leave by the deadline (pure). */
export function stallReasons(idle: readonly string[], facts: StallFacts): { vmId: string; reason: string }[] {
  return idle.map((vmId) => {
    const failures = facts.attempts.get(vmId)?.length ?? 0;
    const failed = facts.lastError.has(vmId)
      ? `${failures} ${failures === 1 ? 'migration' : 'migrations'} failed, the last: ${facts.lastError.get(vmId)}`
      : null;
    const unplaced = facts.unfit.has(vmId) ? `no other host takes it: ${facts.unfit.get(vmId)}` : null;
    return { vmId, reason: [failed, unplaced].filter(Boolean).join('; ') || 'no migration could be planned for it' };
  });
}
