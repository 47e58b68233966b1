import type { Policy, Rule, SnapshotHost, SnapshotVm } from '../planner/snapshot.js';
import type { HostEntity } from './entities/host.entity.js';
import type { RuleEntity } from './entities/rule.entity.js';
import type { VmEntity } from './entities/vm.entity.js';

/**
 * Rows <-> FORMAT.md items. Optional fields are stored as NULL when absent and left out again on the
 * way back, so an imported snapshot exports as the same document.
 */
function omitNulls<T extends object>(value: { [K in keyof T]: T[K] | null }): T {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) if (v !== null && v !== undefined) out[key] = v;
  return out as T;
}

/** jsonb keeps keys in its own order; documents list them in FORMAT.md's. */
export function policyToFormat(p: Policy): Policy {
  return omitNulls<Policy>({
    automationLevel: p.automationLevel,
    migrationThreshold: p.migrationThreshold,
    resourceWeights: { cpu: p.resourceWeights.cpu, memory: p.resourceWeights.memory },
    maxMovesPerRun: p.maxMovesPerRun,
    memoryOvercommitRatio: p.memoryOvercommitRatio,
    maxCpuUtilization: p.maxCpuUtilization ?? null,
    migrationCooldownMinutes: p.migrationCooldownMinutes ?? null,
    holdMinutes: p.holdMinutes ?? null,
    evaluationIntervalMinutes: p.evaluationIntervalMinutes ?? null,
    evaluationCron: p.evaluationCron ?? null,
    maxMigrationsPerVmDay: p.maxMigrationsPerVmDay ?? null,
    maxInflowPerHost: p.maxInflowPerHost ?? null,
    changeWindows: p.changeWindows ?? null,
    healthActions: p.healthActions ?? null,
    failedHostGraceSeconds: p.failedHostGraceSeconds ?? null,
    haRestart: p.haRestart ?? null,
  });
}

export function hostToFormat(h: HostEntity): SnapshotHost {
  return omitNulls<SnapshotHost>({
    id: h.id,
    cpuCapacityMhz: h.cpuCapacityMhz,
    memoryCapacityMb: h.memoryCapacityMb,
    state: h.state,
    compatibilityGroup: h.compatibilityGroup,
    networks: h.networks,
    datastores: h.datastores,
    migrationBandwidthMbps: h.migrationBandwidthMbps,
    connectionUri: h.connectionUri,
    migrationAddress: h.migrationAddress,
  });
}

export function vmToFormat(v: Omit<VmEntity, 'clusterId' | 'name' | 'macAddresses' | 'missingSince' | 'downSince' | 'createdAt' | 'updatedAt'>): SnapshotVm {
  return omitNulls<SnapshotVm>({
    id: v.id,
    hostId: v.hostId,
    vcpus: v.vcpus,
    memoryMb: v.memoryMb,
    cpuDemandMhz: v.cpuDemandMhz,
    memoryActiveMb: v.memoryActiveMb,
    powerState: v.powerState,
    automationLevel: v.automationLevel,
    restartPriority: v.restartPriority,
    networks: v.networks,
    datastores: v.datastores,
    compatibilityGroup: v.compatibilityGroup,
    memoryDirtyRateMbps: v.memoryDirtyRateMbps,
    diskMb: v.diskMb,
    lastMigratedAt: v.lastMigratedAt?.toISOString() ?? null,
  });
}

export function ruleToFormat(r: RuleEntity): Rule {
  return omitNulls<Rule>({
    id: r.id,
    kind: r.kind,
    mode: r.mode,
    vmIds: r.vmIds,
    hostIds: r.hostIds,
    enabled: r.enabled,
  });
}

export function hostRow(clusterId: string, h: SnapshotHost): Omit<HostEntity, 'createdAt' | 'updatedAt'> {
  return {
    id: h.id,
    clusterId,
    cpuCapacityMhz: h.cpuCapacityMhz,
    memoryCapacityMb: h.memoryCapacityMb,
    state: h.state,
    compatibilityGroup: h.compatibilityGroup ?? null,
    networks: h.networks,
    datastores: h.datastores,
    migrationBandwidthMbps: h.migrationBandwidthMbps ?? null,
    connectionUri: h.connectionUri ?? null,
    migrationAddress: h.migrationAddress ?? null,
  };
}

/** Discovery's own columns (name, MACs, missing) are not part of the format: an import leaves them as they are. */
export function vmRow(clusterId: string, v: SnapshotVm): Omit<VmEntity, 'createdAt' | 'updatedAt' | 'name' | 'macAddresses' | 'missingSince' | 'downSince'> {
  return {
    id: v.id,
    clusterId,
    hostId: v.hostId,
    vcpus: v.vcpus,
    memoryMb: v.memoryMb,
    cpuDemandMhz: v.cpuDemandMhz,
    memoryActiveMb: v.memoryActiveMb,
    powerState: v.powerState,
    automationLevel: v.automationLevel ?? null,
    restartPriority: v.restartPriority ?? null,
    networks: v.networks,
    datastores: v.datastores,
    compatibilityGroup: v.compatibilityGroup ?? null,
    memoryDirtyRateMbps: v.memoryDirtyRateMbps ?? null,
    diskMb: v.diskMb ?? null,
    lastMigratedAt: v.lastMigratedAt ? new Date(v.lastMigratedAt) : null,
  };
}

export function ruleRow(clusterId: string, r: Rule): Omit<RuleEntity, 'createdAt' | 'updatedAt'> {
  return {
    id: r.id,
    clusterId,
    kind: r.kind,
    mode: r.mode,
    vmIds: r.vmIds,
    hostIds: r.hostIds ?? null,
    enabled: r.enabled ?? null,
  };
}
