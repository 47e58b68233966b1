import type { Rule } from './snapshot.js';

/**
 * Must rules that contradict each other, as DRS finds them: no placement can keep both. Pure;
 * used by the rules service (create, update), the import and the planner.
 *
 * Contradictions found, with must vm-affinity joined transitively (VMs that must share a host):
 * - an anti-affinity rule keeps apart two VMs that must share a host;
 * - the hosts a group of VMs may use (the intersection of its vm-host-affinity sets, less its
 *   vm-host-anti-affinity hosts) are none;
 * - an anti-affinity rule keeps apart two groups that may each use only the same one host.
 * Host counts, capacity and other hosts' states are not looked at: those change, a rule pair does not.
 */
export interface RuleConflict {
  /** The rule that cannot be kept beside the others. */
  ruleId: string;
  /** The rules it contradicts (those accepted before it). */
  conflictsWith: string[];
  /** Why, in words. */
  reason: string;
}

/** Whether a rule takes part in conflict detection: enabled must rules. */
export const isEnforcedMust = (rule: Rule): boolean => rule.mode === 'must' && rule.enabled !== false;

/** Why `candidate` cannot be kept beside `existing` (itself left out by id), or null. */
export function conflictOf(existing: readonly Rule[], candidate: Rule): RuleConflict | null {
  if (!isEnforcedMust(candidate)) return null;
  const others = existing.filter((r) => r.id !== candidate.id && isEnforcedMust(r));
  // The existing rules may contradict each other already (stored before this check): only what the candidate adds counts.
  const accepted = consistentSubset(others);
  return contradiction(accepted, candidate);
}

/**
 * Goes through `rules` in order and returns the conflicts of each with the ones accepted before it
 * (a rule in conflict is not accepted, so later rules are checked against a consistent set).
 */
export function findRuleConflicts(rules: readonly Rule[]): RuleConflict[] {
  const accepted: Rule[] = [];
  const conflicts: RuleConflict[] = [];
  for (const rule of rules) {
    if (!isEnforcedMust(rule)) continue;
    const conflict = contradiction(accepted, rule);
    if (conflict) conflicts.push(conflict);
    else accepted.push(rule);
  }
  return conflicts;
}

function consistentSubset(rules: readonly Rule[]): Rule[] {
  const refused = new Set(findRuleConflicts(rules).map((c) => c.ruleId));
  return rules.filter((r) => !refused.has(r.id));
}

/** VMs joined by must vm-affinity rules, with the rules that joined each group. */
class Groups {
  private readonly parent = new Map<string, string>();

  constructor(rules: readonly Rule[]) {
    for (const rule of rules) {
      if (rule.kind !== 'vm-affinity') continue;
      for (const vm of rule.vmIds) this.union(vm, rule.vmIds[0]);
    }
  }

  find(vm: string): string {
    let root = vm;
    while (this.parent.has(root) && this.parent.get(root) !== root) root = this.parent.get(root) as string;
    return root;
  }

  private union(a: string, b: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent.set(ra, rb);
  }
}

const quote = (ids: readonly string[]) => ids.map((id) => `"${id}"`).join(', ');

function contradiction(accepted: readonly Rule[], candidate: Rule): RuleConflict | null {
  const all = [...accepted, candidate];
  const groups = new Groups(all);
  const sameGroup = (a: string, b: string) => groups.find(a) === groups.find(b);
  const inGroupOf = (vm: string, rule: Rule) => rule.vmIds.some((v) => sameGroup(v, vm));
  const result = (conflictsWith: Rule[], reason: string): RuleConflict => ({
    ruleId: candidate.id,
    conflictsWith: [...new Set(conflictsWith.map((r) => r.id))],
    reason,
  });

  // Anti-affinity between VMs that must share a host.
  for (const anti of all.filter((r) => r.kind === 'vm-anti-affinity')) {
    const pair = firstPair(anti.vmIds, sameGroup);
    if (pair === null) continue;
    const [a, b] = pair;
    const joining = accepted.filter((r) => r.kind === 'vm-affinity' && inGroupOf(a, r));
    const others = anti === candidate ? joining : [anti];
    if (others.length === 0) continue;
    return result(others, `${a} and ${b} must share a host (${affinityWords(anti === candidate ? joining : [candidate, ...joining])}) and must not (anti-affinity "${anti.id}")`);
  }

  // The hosts each group may use.
  const hostRules = all.filter((r) => r.kind === 'vm-host-affinity' || r.kind === 'vm-host-anti-affinity');
  const allowedOf = (vm: string): { allowed: Set<string> | null; rules: Rule[] } => {
    const touching = hostRules.filter((r) => inGroupOf(vm, r));
    const only = touching.filter((r) => r.kind === 'vm-host-affinity');
    if (only.length === 0) return { allowed: null, rules: touching };
    const allowed = new Set(only[0].hostIds ?? []);
    for (const r of only) for (const h of [...allowed]) if (!(r.hostIds ?? []).includes(h)) allowed.delete(h);
    for (const r of touching) if (r.kind === 'vm-host-anti-affinity') for (const h of r.hostIds ?? []) allowed.delete(h);
    return { allowed, rules: touching };
  };
  for (const vm of candidate.vmIds) {
    const { allowed, rules } = allowedOf(vm);
    if (allowed === null || allowed.size > 0) continue;
    const members = groupMembers(all, vm, sameGroup);
    const others = rules.filter((r) => r !== candidate);
    const linking = accepted.filter((r) => r.kind === 'vm-affinity' && inGroupOf(vm, r));
    const named = others.length > 0 ? [...others, ...(candidate.kind === 'vm-affinity' ? [] : linking)] : linking;
    if (named.length === 0) continue;
    const who = members.length > 1 ? `${members.join(', ')} (which must share a host)` : vm;
    return result(named, `no host is left for ${who}: ${hostRuleWords(rules)}`);
  }

  // Anti-affinity between groups pinned to the same single host.
  for (const anti of all.filter((r) => r.kind === 'vm-anti-affinity')) {
    const pinned = new Map<string, string>();
    for (const vm of anti.vmIds) {
      const { allowed, rules } = allowedOf(vm);
      if (allowed === null || allowed.size !== 1) continue;
      const only = [...allowed][0];
      const earlier = pinned.get(only);
      if (earlier === undefined) {
        pinned.set(only, vm);
        continue;
      }
      const involved = [anti, ...rules, ...allowedOf(earlier).rules];
      if (!involved.includes(candidate)) continue;
      return result(
        involved.filter((r) => r !== candidate),
        `${earlier} and ${vm} may only run on ${only} (${hostRuleWords([...new Set([...rules, ...allowedOf(earlier).rules])])}) and must not share it (anti-affinity "${anti.id}")`,
      );
    }
  }
  return null;
}

function firstPair(vms: readonly string[], same: (a: string, b: string) => boolean): [string, string] | null {
  for (let i = 0; i < vms.length; i++) for (let j = i + 1; j < vms.length; j++) if (same(vms[i], vms[j])) return [vms[i], vms[j]];
  return null;
}

function groupMembers(rules: readonly Rule[], vm: string, same: (a: string, b: string) => boolean): string[] {
  const members = new Set<string>([vm]);
  for (const r of rules) for (const v of r.vmIds) if (same(v, vm)) members.add(v);
  return [...members].sort();
}

function affinityWords(rules: readonly Rule[]): string {
  const ids = rules.filter((r) => r.kind === 'vm-affinity').map((r) => r.id);
  return `affinity ${quote(ids)}`;
}

function hostRuleWords(rules: readonly Rule[]): string {
  return rules
    .map((r) => `"${r.id}" ${r.kind === 'vm-host-affinity' ? 'allows only' : 'excludes'} ${(r.hostIds ?? []).join(', ')}`)
    .join('; ');
}
