import type { PlanBuilder } from '../builder.js';
import { firstRejection } from '../plugins/filters.js';
import { PROFILES } from '../profiles.js';
import { hostHeat, topK } from './search.js';

const HOT_HOSTS = 5;
const TARGETS_TRIED = 3;

/**
 * For the trace: why the VMs of the hottest hosts that did not move stayed. For each (heaviest
 * first, up to the trace's bound): the VM-level filters (automation level, cooldown), its
 * must-affinity group, the first rejection on each of the coldest hosts it could go to, and when
 * a host would take it, why balancing did not send it there (the move cap, or too small a gain).
 */
export function explainStayed(b: PlanBuilder): void {
  const m = b.model;
  const p = b.placement;
  const ctx = b.context(PROFILES.optional);
  const heat = hostHeat(b);
  const connected = Array.from({ length: m.hostCount }, (_, h) => h).filter((h) => m.connected[h]);
  const moved = new Set(b.planned.map((x) => x.v));
  const minGain = b.level.minBalancingGain;
  for (const h of topK(connected, HOT_HOSTS, (x) => heat[x])) {
    const vms = p.hostVms[h].filter((v) => !moved.has(v) && m.vmOn[v]).sort((a, c) => m.vmCpu[c] + m.vmActive[c] - (m.vmCpu[a] + m.vmActive[a]) || a - c);
    for (const v of vms) {
      if (b.stayed.full && !b.stayed.has(v)) {
        // Over the trace's bound: only counted (the reason is not worked out).
        b.noteStayed(v, () => ({ plugin: 'balance', reason: 'omitted' }));
        continue;
      }
      const vmLevel = PROFILES.optional.filters.filter((f) => f.name === 'automation-level' || f.name === 'cooldown');
      const blocked = vmLevel.find((f) => !f.accepts(ctx, v, h));
      if (blocked !== undefined) {
        b.noteStayed(v, () => ({ plugin: blocked.name, reason: blocked.reason(ctx, v, h) }));
        continue;
      }
      if (m.vmAffinityUnit[v] >= 0) {
        b.noteStayed(v, () => ({ plugin: 'must-affinity', reason: 'moves only together with its must-affinity group' }));
        continue;
      }
      if (minGain === null) {
        b.noteStayed(v, () => ({ plugin: 'balance', reason: `threshold ${b.level.threshold} keeps only mandatory moves` }));
        continue;
      }
      const targets = topK(m.classHosts[m.vmClass[v]], TARGETS_TRIED, (x) => -heat[x]).filter((t) => t !== h);
      if (targets.length === 0) {
        b.noteStayed(v, () => ({ plugin: 'compatibility-group', reason: 'no other host of its group offers its networks and datastores' }));
        continue;
      }
      for (const t of targets) {
        const rejection = firstRejection(PROFILES.optional.filters, ctx, v, t);
        if (rejection !== null) {
          b.noteStayed(v, () => rejection);
          continue;
        }
        const drop = b.imbalance - p.imbalanceIfMoved(v, t);
        const gain = drop * m.connectedCount;
        const target = b.level.targetImbalance ?? 0;
        const why =
          b.optionalBudget <= 0
            ? { plugin: 'max-moves', reason: `maxMovesPerRun (${b.maxOptionalMoves}) reached` }
            : b.imbalance <= target
              ? { plugin: 'balance', reason: `the imbalance ${b.imbalance.toFixed(4)} is at or below the target ${target}` }
              : gain < minGain
              ? { plugin: 'balance', reason: `to ${m.hosts[t].id} it would lower the imbalance by ${drop.toExponential(2)} (normalized gain ${gain.toFixed(4)}), under the threshold's minimum ${minGain}` }
              : { plugin: 'balance', reason: `to ${m.hosts[t].id} it would lower the imbalance by ${drop.toExponential(2)}; other moves were better` };
        b.noteStayed(v, () => why);
      }
    }
  }
}
