/**
 * Which pending migrations may start now, in the manner of vCenter's migration costs: a host takes
 * part in at most `perHost` migrations at once (as source or target), its migration link in at most
 * 4 (below 10 Gb/s) or 8 (10 Gb/s and faster), and a cluster runs at most `perCluster`. One VM never
 * has two migrations started at once. Candidates come in priority order; the first that fit are admitted.
 */
export interface MigrationLimits {
  perHost: number;
  perCluster: number;
}

export const DEFAULT_LINK_MBPS = 10000;

export function linkLimit(bandwidthMbps: number | null | undefined): number {
  return (bandwidthMbps ?? DEFAULT_LINK_MBPS) >= 10000 ? 8 : 4;
}

export interface SlotUser {
  vmId: string;
  sourceHostId: string;
  targetHostId: string;
}

export interface AdmissionInput<T extends SlotUser> {
  /** The migrations already started (queued or running): they hold their slots. */
  slotHolders: SlotUser[];
  /** In the order they should start (priority first). */
  candidates: T[];
  /** Each host's migration link; a host missing here has the default link. */
  linkMbps: ReadonlyMap<string, number | null>;
  limits: MigrationLimits;
}

function hostsOf(m: SlotUser): string[] {
  return m.sourceHostId === m.targetHostId ? [m.sourceHostId] : [m.sourceHostId, m.targetHostId];
}

export function hostSlots(hostId: string, linkMbps: ReadonlyMap<string, number | null>, limits: MigrationLimits): number {
  return Math.min(limits.perHost, linkLimit(linkMbps.get(hostId)));
}

export function admit<T extends SlotUser>({ slotHolders, candidates, linkMbps, limits }: AdmissionInput<T>): T[] {
  const used = new Map<string, number>();
  const busyVms = new Set<string>();
  const take = (m: SlotUser) => {
    for (const host of hostsOf(m)) used.set(host, (used.get(host) ?? 0) + 1);
    busyVms.add(m.vmId);
  };
  slotHolders.forEach(take);
  let clusterFree = limits.perCluster - slotHolders.length;
  const admitted: T[] = [];
  for (const candidate of candidates) {
    if (clusterFree <= 0) break;
    if (busyVms.has(candidate.vmId)) continue;
    const fits = hostsOf(candidate).every((host) => (used.get(host) ?? 0) < hostSlots(host, linkMbps, limits));
    if (!fits) continue;
    take(candidate);
    admitted.push(candidate);
    clusterFree -= 1;
  }
  return admitted;
}
