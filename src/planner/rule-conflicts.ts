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
  // The existing rules may contradict each other already (stored before this check): only what the candidate adds counts.
  const accepted = new ConsistentRules();
  for (const rule of existing) if (rule.id !== candidate.id && isEnforcedMust(rule) && accepted.conflictOf(rule) === null) accepted.add(rule);
  return accepted.conflictOf(candidate);
}

/**
 * Goes through `rules` in order and returns the conflicts of each with the ones accepted before it
 * (a rule in conflict is not accepted, so later rules are checked against a consistent set).
 */
export function findRuleConflicts(rules: readonly Rule[]): RuleConflict[] {
  const accepted = new ConsistentRules();
  const conflicts: RuleConflict[] = [];
  for (const rule of rules) {
    if (!isEnforcedMust(rule)) continue;
    const conflict = accepted.conflictOf(rule);
    if (conflict) conflicts.push(conflict);
    else accepted.add(rule);
  }
  return conflicts;
}

const isHostRule = (r: Rule) => r.kind === 'vm-host-affinity' || r.kind === 'vm-host-anti-affinity';

/** The hosts a group may use: null when no vm-host-affinity rule limits it. */
function allowedHosts(hostRules: readonly Rule[]): Set<string> | null {
  const only = hostRules.filter((r) => r.kind === 'vm-host-affinity');
  if (only.length === 0) return null;
  const allowed = new Set(only[0].hostIds ?? []);
  for (const r of only) for (const h of [...allowed]) if (!(r.hostIds ?? []).includes(h)) allowed.delete(h);
  for (const r of hostRules) if (r.kind === 'vm-host-anti-affinity') for (const h of r.hostIds ?? []) allowed.delete(h);
  return allowed;
}

/**
 * Must rules without a contradiction among them, indexed so that a candidate is checked against the
 * groups it touches only (VMs joined by must vm-affinity, with the rules that name their members):
 * an import of thousands of rules stays fast.
 */
class ConsistentRules {
  private readonly parent = new Map<string, string>();
  private readonly members = new Map<string, string[]>();
  private readonly rulesByVm = new Map<string, Rule[]>();

  private find(vm: string): string {
    let root = vm;
    for (let up = this.parent.get(root); up !== undefined && up !== root; up = this.parent.get(root)) root = up;
    for (let at = vm; at !== root; ) {
      const next = this.parent.get(at) as string;
      this.parent.set(at, root);
      at = next;
    }
    return root;
  }

  private group(root: string): string[] {
    return this.members.get(root) ?? [root];
  }

  add(rule: Rule): void {
    for (const vm of rule.vmIds) {
      const list = this.rulesByVm.get(vm);
      if (list) list.push(rule);
      else this.rulesByVm.set(vm, [rule]);
    }
    if (rule.kind !== 'vm-affinity') return;
    for (const vm of rule.vmIds.slice(1)) {
      const a = this.find(rule.vmIds[0]);
      const b = this.find(vm);
      if (a === b) continue;
      const [big, small] = this.group(a).length >= this.group(b).length ? [a, b] : [b, a];
      this.parent.set(small, big);
      this.members.set(big, [...this.group(big), ...this.group(small)]);
      this.members.delete(small);
    }
  }

  /** The conflict `candidate` would bring into these rules, or null. */
  conflictOf(candidate: Rule): RuleConflict | null {
    if (!isEnforcedMust(candidate)) return null;
    // The groups the candidate changes, as they would be with it.
    const roots = [...new Set(candidate.vmIds.map((vm) => this.find(vm)))];
    const groups = candidate.kind === 'vm-affinity' ? [roots.flatMap((r) => this.group(r))] : roots.map((r) => this.group(r));
    const groupOf = new Map<string, number>();
    groups.forEach((members, g) => members.forEach((vm) => groupOf.set(vm, g)));
    const rulesOf = (members: readonly string[]) => {
      const found = new Set<Rule>();
      for (const vm of members) for (const r of this.rulesByVm.get(vm) ?? []) found.add(r);
      return [...found];
    };
    const result = (conflictsWith: Rule[], reason: string): RuleConflict => ({
      ruleId: candidate.id,
      conflictsWith: [...new Set(conflictsWith.filter((r) => r !== candidate).map((r) => r.id))],
      reason,
    });

    for (const members of groups) {
      const inGroup = new Set(members);
      const touching = rulesOf(members);
      if (candidate.vmIds.some((vm) => inGroup.has(vm))) touching.push(candidate);
      const joining = touching.filter((r) => r.kind === 'vm-affinity' && r !== candidate);

      // Anti-affinity between VMs that must share a host.
      for (const anti of touching.filter((r) => r.kind === 'vm-anti-affinity')) {
        const pair = anti.vmIds.filter((vm) => inGroup.has(vm));
        if (pair.length < 2 || members.length < 2) continue;
        const named = anti === candidate ? joining : [anti];
        if (named.length === 0) continue;
        const together = anti === candidate ? joining : [candidate, ...joining];
        return result(named, `${pair[0]} and ${pair[1]} must share a host (${affinityWords(together)}) and must not (anti-affinity "${anti.id}")`);
      }

      // The hosts the group may use.
      const hostRules = touching.filter(isHostRule);
      const allowed = allowedHosts(hostRules);
      if (allowed !== null && allowed.size === 0) {
        const others = hostRules.filter((r) => r !== candidate);
        const named = others.length > 0 ? [...others, ...(candidate.kind === 'vm-affinity' ? [] : joining)] : joining;
        if (named.length > 0) {
          const who = members.length > 1 ? `${[...members].sort().join(', ')} (which must share a host)` : members[0];
          return result(named, `no host is left for ${who}: ${hostRuleWords(hostRules)}`);
        }
      }
    }

    // Anti-affinity between groups pinned to the same single host.
    const allowedOf = (vm: string): { allowed: Set<string> | null; rules: Rule[] } => {
      const g = groupOf.get(vm);
      const members = g === undefined ? this.group(this.find(vm)) : groups[g];
      const rules = rulesOf(members).filter(isHostRule);
      if (isHostRule(candidate) && candidate.vmIds.some((v) => members.includes(v))) rules.push(candidate);
      return { allowed: allowedHosts(rules), rules };
    };
    const antiRules = new Set(groups.flatMap((members) => rulesOf(members)).filter((r) => r.kind === 'vm-anti-affinity'));
    if (candidate.kind === 'vm-anti-affinity') antiRules.add(candidate);
    for (const anti of antiRules) {
      const pinned = new Map<string, { vm: string; rules: Rule[] }>();
      for (const vm of anti.vmIds) {
        const { allowed, rules } = allowedOf(vm);
        if (allowed === null || allowed.size !== 1) continue;
        const only = [...allowed][0];
        const earlier = pinned.get(only);
        if (earlier === undefined) {
          pinned.set(only, { vm, rules });
          continue;
        }
        const hostRules = [...new Set([...rules, ...earlier.rules])];
        return result(
          [anti, ...hostRules],
          `${earlier.vm} and ${vm} may only run on ${only} (${hostRuleWords(hostRules)}) and must not share it (anti-affinity "${anti.id}")`,
        );
      }
    }
    return null;
  }
}

function affinityWords(rules: readonly Rule[]): string {
  const ids = rules.filter((r) => r.kind === 'vm-affinity').map((r) => r.id);
  return `affinity ${ids.map((id) => `"${id}"`).join(', ')}`;
}

function hostRuleWords(rules: readonly Rule[]): string {
  return rules
    .map((r) => `"${r.id}" ${r.kind === 'vm-host-affinity' ? 'allows only' : 'excludes'} ${(r.hostIds ?? []).join(', ')}`)
    .join('; ');
}
