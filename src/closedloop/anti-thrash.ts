import { LOOP_DEFAULTS } from './loop-policy.js';

/**
 * Never thrash, pure: a VM's cooldown grows with its moves of the last day, base x 2^(n-1) for n
 * moves (KubeVirt-style descheduling), capped; a VM that came back to a host it had left within the
 * day, or whose last balancing move made its target a hot spot, counts one move more (its cooldown
 * doubles again), and the reason says so.
 */
export const DAY_MS = 24 * 60 * 60_000;

export interface MoveRecord {
  vmId: string;
  fromHostId: string;
  toHostId: string;
  /** ms since the epoch when the migration started. */
  at: number;
  /** Evacuation, rule repair or HA restart: outside the churn budget (but counted), never held back. */
  mandatory: boolean;
}

export interface Hold {
  vmId: string;
  until: number;
  /** Words for the trace and the status: why the VM sits out balancing. */
  reason: string;
}

const minutes = (ms: number) => Math.round(ms / 60_000);
const clock = (ms: number) => new Date(ms).toISOString().slice(11, 16);

export function cooldownMs(moves: number, baseMs: number, capMs = LOOP_DEFAULTS.cooldownCapMinutes * 60_000): number {
  return moves <= 0 ? 0 : Math.min(capMs, baseMs * 2 ** (moves - 1));
}

/**
 * The VMs held back from balancing at `now`. `history` holds the moves of at least the last day;
 * `hotHosts` are the hosts found overloaded now (the check after a run: did its targets become
 * the new hot spots?).
 */
export function heldVms(history: readonly MoveRecord[], hotHosts: ReadonlySet<string>, now: number, baseMs: number): Map<string, Hold> {
  const byVm = new Map<string, MoveRecord[]>();
  for (const m of history) {
    if (m.at > now || now - m.at >= DAY_MS) continue;
    let list = byVm.get(m.vmId);
    if (!list) byVm.set(m.vmId, (list = []));
    list.push(m);
  }
  const held = new Map<string, Hold>();
  for (const [vmId, moves] of byVm) {
    moves.sort((a, b) => a.at - b.at);
    const last = moves[moves.length - 1];
    const notes: string[] = [];
    let count = moves.length;
    const bounced = moves.some((m, i) => moves.slice(0, i).some((earlier) => earlier.fromHostId === m.toHostId));
    if (bounced) {
      count++;
      notes.push(`came back to ${bouncedHost(moves)} within a day`);
    }
    if (!last.mandatory && hotHosts.has(last.toHostId)) {
      count++;
      notes.push(`its move to ${last.toHostId} made that host a hot spot`);
    }
    const until = last.at + cooldownMs(count, baseMs);
    if (until <= now) continue;
    const times = moves.length === 1 ? 'moved once' : `moved ${moves.length} times`;
    const why = notes.length > 0 ? `; ${notes.join('; ')}, so it is held longer` : '';
    held.set(vmId, {
      vmId,
      until,
      reason: `${times} in 24 h (last at ${clock(last.at)} UTC to ${last.toHostId})${why}: cooldown ${minutes(until - last.at)} min, until ${clock(until)} UTC`,
    });
  }
  return held;
}

function bouncedHost(moves: readonly MoveRecord[]): string {
  for (let i = moves.length - 1; i > 0; i--) {
    const m = moves[i];
    if (moves.slice(0, i).some((e) => e.fromHostId === m.toHostId)) return m.toHostId;
  }
  return moves[moves.length - 1].toHostId;
}
