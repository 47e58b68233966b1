import { linkShareMbps } from '../link-share.js';

/** A live migration sending over its source's and its target's migration links. */
export interface LinkUser {
  sourceHostId: string;
  targetHostId: string;
  sourceMbps: number;
  targetMbps: number;
}

/**
 * The engine's live migrations by link: each host's link is divided among the migrations that use
 * it (as source or target), and a migration gets the smaller of its two shares. `join` and `leave`
 * return the shares that changed, for the engine to apply (QEMU's `max-bandwidth`).
 */
export class LinkShares {
  private readonly users = new Map<string, LinkUser>();
  private readonly applied = new Map<string, number>();

  /** Adds a migration; returns the new shares of every migration whose share changed, its own included. */
  join(migrationId: string, user: LinkUser): Map<string, number> {
    this.users.set(migrationId, user);
    return this.changes();
  }

  /** Removes a migration; returns the new shares of the others whose share changed. */
  leave(migrationId: string): Map<string, number> {
    this.users.delete(migrationId);
    this.applied.delete(migrationId);
    return this.changes();
  }

  /** The share last handed out for this migration, in Mb/s. */
  shareOf(migrationId: string): number | undefined {
    return this.applied.get(migrationId);
  }

  private changes(): Map<string, number> {
    const onHost = new Map<string, number>();
    for (const user of this.users.values()) {
      for (const host of new Set([user.sourceHostId, user.targetHostId])) onHost.set(host, (onHost.get(host) ?? 0) + 1);
    }
    const changed = new Map<string, number>();
    for (const [id, user] of this.users) {
      const share = linkShareMbps(user.sourceMbps, onHost.get(user.sourceHostId)!, user.targetMbps, onHost.get(user.targetHostId)!);
      if (this.applied.get(id) !== share) {
        this.applied.set(id, share);
        changed.set(id, share);
      }
    }
    return changed;
  }
}
