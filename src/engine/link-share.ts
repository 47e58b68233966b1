/**
 * The bandwidth one migration gets: its fair share of the source host's link and of the target
 * host's link, whichever is smaller. `counts` include the migration itself; a storage migration
 * passes its one host as both. Both engines divide links this way.
 */
export function linkShareMbps(
  sourceLinkMbps: number,
  migrationsOnSourceLink: number,
  targetLinkMbps: number,
  migrationsOnTargetLink: number,
): number {
  return Math.min(sourceLinkMbps / Math.max(1, migrationsOnSourceLink), targetLinkMbps / Math.max(1, migrationsOnTargetLink));
}
