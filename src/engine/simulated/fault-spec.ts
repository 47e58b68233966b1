import { createHash } from 'node:crypto';
import { ConfigError } from '../../config/config-error.js';

/**
 * Which simulated migrations fail, from a setting such as SIM_FAULTS. Grammar: comma-separated
 * clauses, spaces around them ignored, an empty setting means no faults.
 *
 *   vm:VM              every migration of that VM fails during pre-copy (final)
 *   target:HOST        that host refuses incoming migrations (precheck says no; migrate fails, final)
 *   transient:VM:N     the first N attempts to migrate that VM fail with a transient error, later ones succeed
 *   rate:P             a deterministic share P (0..1) of migrations fails, chosen by a hash of the migration id (final)
 *   nonconverge:VM     that guest dirties memory faster than any link: auto-converge, then a clean failure
 */
export interface FaultSpec {
  failingVms: ReadonlySet<string>;
  refusingTargets: ReadonlySet<string>;
  /** VM id -> how many attempts fail transiently. */
  transientVms: ReadonlyMap<string, number>;
  failureRate: number;
  nonConvergingVms: ReadonlySet<string>;
}

export const NO_FAULTS: FaultSpec = Object.freeze({
  failingVms: new Set<string>(),
  refusingTargets: new Set<string>(),
  transientVms: new Map<string, number>(),
  failureRate: 0,
  nonConvergingVms: new Set<string>(),
});

const KINDS = ['vm', 'target', 'transient', 'rate', 'nonconverge'] as const;

/** Parses a fault setting; a bad clause throws a ConfigError naming it. Usable as a SETTINGS `parse`. */
export function parseFaultSpec(raw: string, name = 'SIM_FAULTS'): FaultSpec {
  const failingVms = new Set<string>();
  const refusingTargets = new Set<string>();
  const transientVms = new Map<string, number>();
  const nonConvergingVms = new Set<string>();
  let failureRate: number | null = null;

  if (raw.trim() === '') return NO_FAULTS;
  for (const part of raw.split(',').map((p) => p.trim())) {
    const bad = (reason: string) => new ConfigError(`${name}: bad part "${part}": ${reason}`);
    const colon = part.indexOf(':');
    const kind = colon < 0 ? part : part.slice(0, colon);
    const argument = colon < 0 ? '' : part.slice(colon + 1).trim();
    if (part === '') throw bad('empty clause (two commas in a row, or a trailing comma)');
    if (!(KINDS as readonly string[]).includes(kind)) throw bad(`unknown kind "${kind}" (expected ${KINDS.join(', ')})`);
    if (argument === '') throw bad(`"${kind}" needs ${kind === 'rate' ? 'a share' : kind === 'target' ? 'a host id' : 'a VM id'} after the colon`);
    switch (kind) {
      case 'vm':
        failingVms.add(argument);
        break;
      case 'target':
        refusingTargets.add(argument);
        break;
      case 'nonconverge':
        nonConvergingVms.add(argument);
        break;
      case 'transient': {
        const last = argument.lastIndexOf(':');
        const vmId = last < 0 ? '' : argument.slice(0, last).trim();
        const count = last < 0 ? '' : argument.slice(last + 1).trim();
        if (vmId === '' || !/^\d+$/.test(count)) throw bad('expected transient:VM:N with N a whole number of attempts');
        if (transientVms.has(vmId)) throw bad(`VM "${vmId}" is already given`);
        transientVms.set(vmId, Number(count));
        break;
      }
      case 'rate': {
        const share = Number(argument);
        if (!/^\d*\.?\d+$/.test(argument) || share > 1) throw bad('expected rate:P with P a number between 0 and 1');
        if (failureRate !== null) throw bad('rate is already given');
        failureRate = share;
        break;
      }
    }
  }
  return { failingVms, refusingTargets, transientVms, failureRate: failureRate ?? 0, nonConvergingVms };
}

/** Whether `rate:P` picks this migration: the same answer in every process, for every retry of it. */
export function failsByRate(migrationId: string, rate: number): boolean {
  if (rate <= 0) return false;
  const draw = createHash('sha256').update(migrationId).digest().readUInt32BE(0) / 2 ** 32;
  return draw < rate;
}
