import type { CompiledRule, Model } from './model.js';

/**
 * Whether a rule is broken with VMs placed by `host`, optionally as if VM `movedVm` were on `movedTo`.
 * Rules concern placement, so powered-off VMs count as well.
 */
export function isBroken(rule: CompiledRule, host: Int32Array, movedVm = -1, movedTo = -1): boolean {
  const where = (w: number) => (w === movedVm ? movedTo : host[w]);
  const vms = rule.vms;
  switch (rule.kind) {
    case 'vm-anti-affinity':
      for (let i = 0; i < vms.length; i++) {
        const hi = where(vms[i]);
        for (let j = i + 1; j < vms.length; j++) if (where(vms[j]) === hi) return true;
      }
      return false;
    case 'vm-affinity': {
      const first = where(vms[0]);
      for (let i = 1; i < vms.length; i++) if (where(vms[i]) !== first) return true;
      return false;
    }
    case 'vm-host-affinity':
      for (let i = 0; i < vms.length; i++) if (!rule.hostSet?.[where(vms[i])]) return true;
      return false;
    case 'vm-host-anti-affinity':
      for (let i = 0; i < vms.length; i++) if (rule.hostSet?.[where(vms[i])]) return true;
      return false;
  }
}

export function brokenRules(model: Model, host: Int32Array, must: boolean): CompiledRule[] {
  return model.rules.filter((r) => r.must === must && isBroken(r, host));
}

/** How many `should` rules moving VM v to `to` would newly break, and how many it would repair. */
export function shouldRuleChanges(model: Model, host: Int32Array, v: number, to: number): { broken: number; repaired: number } {
  const ids = model.vmRules[v];
  let broken = 0;
  let repaired = 0;
  for (let i = 0; i < ids.length; i++) {
    const rule = model.rules[ids[i]];
    if (rule.must) continue;
    const before = isBroken(rule, host);
    const after = isBroken(rule, host, v, to);
    if (after && !before) broken++;
    if (before && !after) repaired++;
  }
  return { broken, repaired };
}

/** How a broken rule is broken, in words, for `unresolved`. */
export function describeBreak(model: Model, rule: CompiledRule, host: Int32Array): string {
  const vmId = (w: number) => model.vms[w].id;
  const hostId = (w: number) => model.hosts[host[w]].id;
  switch (rule.kind) {
    case 'vm-anti-affinity': {
      const byHost = new Map<number, number[]>();
      for (const w of rule.vms) byHost.set(host[w], [...(byHost.get(host[w]) ?? []), w]);
      const shared = [...byHost.values()].filter((ws) => ws.length > 1);
      return shared.map((ws) => `${ws.map(vmId).join(', ')} share ${hostId(ws[0])}`).join('; ');
    }
    case 'vm-affinity': {
      const hostsUsed = [...new Set(Array.from(rule.vms, (w) => host[w]))];
      return `its VMs are spread over ${hostsUsed.map((h) => model.hosts[h].id).join(', ')}`;
    }
    case 'vm-host-affinity':
      return `${Array.from(rule.vms)
        .filter((w) => !rule.hostSet?.[host[w]])
        .map((w) => `${vmId(w)} is on ${hostId(w)}`)
        .join(', ')}, outside its hosts`;
    case 'vm-host-anti-affinity':
      return `${Array.from(rule.vms)
        .filter((w) => rule.hostSet?.[host[w]])
        .map((w) => `${vmId(w)} is on ${hostId(w)}`)
        .join(', ')}, one of its excluded hosts`;
  }
}
