import { DAY_MS, type MoveRecord } from './anti-thrash.js';

/**
 * The churn budget over a sliding day: balancing moves may bring the cluster's migrations of the
 * last 24 h up to maxMigrationsPerVmDay x VMs; mandatory moves (evacuation, rule repair, HA) run
 * outside it, but they are counted, so a day of evacuations leaves no room for balancing.
 */
export interface ChurnBudget {
  /** Migrations a day the policy allows the cluster (maxMigrationsPerVmDay x VMs). */
  allowed: number;
  /** Migrations started in the last 24 h, mandatory ones included. */
  used: number;
  mandatoryUsed: number;
  /** Balancing moves still allowed now. */
  left: number;
  perVmDay: number;
}

export function churnBudget(history: readonly MoveRecord[], vmCount: number, maxPerVmDay: number, now: number): ChurnBudget {
  let used = 0;
  let mandatoryUsed = 0;
  for (const m of history) {
    if (m.at > now || now - m.at >= DAY_MS) continue;
    used++;
    if (m.mandatory) mandatoryUsed++;
  }
  const allowed = Math.floor(maxPerVmDay * vmCount);
  return { allowed, used, mandatoryUsed, left: Math.max(0, allowed - used), perVmDay: vmCount === 0 ? 0 : used / vmCount };
}
