import type { HostState } from '../planner/snapshot.js';

/**
 * Failed-host detection, pure (the caller says what time it is): a host the metrics source has
 * answered for before, but from which neither a sample of its own nor one of its VMs has come for
 * the grace period, is failed. A host that answers again after its failure began has returned.
 *
 * When no host of the cluster was heard within the grace period, the source itself is silent (a
 * Prometheus down, a push client stopped): that is not a host failure, and nothing is declared
 * failed (as vSphere HA does not restart VMs off hosts it merely cannot see).
 */
export interface HostHearing {
  hostId: string;
  state: HostState;
  /** ms since the epoch of the newest sample from the host or one of its VMs; null: never heard. */
  lastHeardAt: number | null;
  /** When the open incident of a failed host began (null: no open incident). */
  failedSince: number | null;
}

/** Hosts in these states are watched; a host in maintenance or standby may well be off. */
export const WATCHED_HOST_STATES: readonly HostState[] = ['connected', 'quarantine'];

export interface HostFailures {
  /** Watched hosts silent for the grace period. */
  failed: { hostId: string; lastHeardAt: number }[];
  /** Failed hosts (with an open incident) heard again since their failure began. */
  returned: { hostId: string; lastHeardAt: number }[];
  /** false: no host was heard within the grace period, so no host is declared failed. */
  sourceAnswering: boolean;
}

export function hostFailures(hosts: readonly HostHearing[], graceMs: number, now: number): HostFailures {
  const heardRecently = (h: HostHearing) => h.lastHeardAt !== null && now - h.lastHeardAt < graceMs;
  const sourceAnswering = hosts.some(heardRecently);
  const failed: HostFailures['failed'] = [];
  const returned: HostFailures['returned'] = [];
  for (const h of hosts) {
    if (h.state === 'failed') {
      if (h.failedSince !== null && h.lastHeardAt !== null && h.lastHeardAt > h.failedSince) returned.push({ hostId: h.hostId, lastHeardAt: h.lastHeardAt });
      continue;
    }
    if (!WATCHED_HOST_STATES.includes(h.state) || h.lastHeardAt === null) continue;
    if (!heardRecently(h) && sourceAnswering) failed.push({ hostId: h.hostId, lastHeardAt: h.lastHeardAt });
  }
  return { failed, returned, sourceAnswering };
}
