import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { METRICS_SOURCE_NAMES, type MetricsSourceName } from '../metrics/metrics-source.js';
import { AUTOMATION_LEVELS, type Policy } from '../planner/snapshot.js';
import { DEFAULT_POLICY, parsePolicy, readerOf, SnapshotError } from '../planner/validate-snapshot.js';

/** The defaults live with the policy's validation (a snapshot's policy may leave fields out too). */
export { DEFAULT_POLICY };

export class ResourceWeightsDto {
  @ApiProperty({ minimum: 0 }) cpu!: number;
  @ApiProperty({ minimum: 0 }) memory!: number;
}

export class PolicyDto {
  @ApiProperty({ enum: AUTOMATION_LEVELS }) automationLevel!: string;
  @ApiProperty({ minimum: 1, maximum: 5, description: '1 (conservative) .. 5 (aggressive)' }) migrationThreshold!: number;
  @ApiProperty({ type: ResourceWeightsDto }) resourceWeights!: ResourceWeightsDto;
  @ApiProperty({ minimum: 0, description: 'Upper bound on balancing moves in one plan' }) maxMovesPerRun!: number;
  @ApiProperty({ minimum: 0, exclusiveMinimum: true }) memoryOvercommitRatio!: number;
  @ApiPropertyOptional({ minimum: 0, exclusiveMinimum: true, maximum: 1 }) maxCpuUtilization?: number;
  @ApiPropertyOptional({ minimum: 0, description: 'Base of the closed loop\'s growing cooldown (default 30)' }) migrationCooldownMinutes?: number;
  @ApiPropertyOptional({ minimum: 0, description: 'A detection acts after holding this long (default 5)' }) holdMinutes?: number;
  @ApiPropertyOptional({ description: 'Minutes between evaluations (default 5)' }) evaluationIntervalMinutes?: number;
  @ApiPropertyOptional({ description: 'Five cron fields (UTC), instead of the interval' }) evaluationCron?: string;
  @ApiPropertyOptional({ minimum: 0, description: 'Churn budget: migrations per VM per sliding day, cluster average (default 0.5)' })
  maxMigrationsPerVmDay?: number;
  @ApiPropertyOptional({ minimum: 1, description: 'Balancing moves into one host per run (default: no cap)' }) maxInflowPerHost?: number;
  @ApiPropertyOptional({ description: '{"timeZone": "Europe/Berlin", "windows": [{"days": ["sat"], "start": "01:00", "end": "05:00"}]}' })
  changeWindows?: Record<string, unknown>;
  @ApiPropertyOptional({ description: '{"moderate": "quarantine", "severe": "maintenance"} (the defaults)' }) healthActions?: Record<string, string>;
  @ApiPropertyOptional({ minimum: 1, description: 'A host with no samples this long is failed (default 60)' }) failedHostGraceSeconds?: number;
  @ApiPropertyOptional({ description: 'Restart the VMs of a failed host elsewhere (default true)' }) haRestart?: boolean;
}

export class ClusterDto {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ type: PolicyDto }) policy!: PolicyDto;
  @ApiProperty({ enum: METRICS_SOURCE_NAMES, description: 'Where the load of its VMs and hosts is measured (default METRICS_SOURCE)' }) metricsSource!: string;
  @ApiProperty() hostCount!: number;
  @ApiProperty() vmCount!: number;
}

export class CreateClusterDto {
  @ApiProperty({ example: 'prod-a' }) id!: string;
  @ApiProperty({ example: 'Production A' }) name!: string;
  @ApiPropertyOptional({ type: PolicyDto, description: 'Fields left out take the defaults (DRS: fully automated, threshold 3)' })
  policy?: Partial<PolicyDto>;
  @ApiPropertyOptional({ enum: METRICS_SOURCE_NAMES, description: 'Left out: METRICS_SOURCE' }) metricsSource?: string;
}

export class UpdateClusterDto {
  @ApiPropertyOptional() name?: string;
  @ApiPropertyOptional({ type: PolicyDto, description: 'Fields given replace the current ones' }) policy?: Partial<PolicyDto>;
  @ApiPropertyOptional({ enum: METRICS_SOURCE_NAMES, nullable: true, description: 'null: back to METRICS_SOURCE' }) metricsSource?: string | null;
}

export interface ClusterChanges {
  name?: string;
  policy?: Record<string, unknown>;
  /** null: back to the installation's default. */
  metricsSource?: MetricsSourceName | null;
}

function metricsSourceOf(body: unknown): MetricsSourceName | null | undefined {
  const value = (body as Record<string, unknown>).metricsSource;
  if (value === undefined || value === null) return value;
  if (typeof value !== 'string' || !(METRICS_SOURCE_NAMES as readonly string[]).includes(value)) {
    throw new SnapshotError('body.metricsSource', `must be one of ${METRICS_SOURCE_NAMES.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as MetricsSourceName;
}

function policyPatch(value: unknown): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SnapshotError('policy', 'must be an object');
  }
  return value as Record<string, unknown>;
}

export function parseCreateCluster(body: unknown): { id: string; name: string; policy: Policy; metricsSource: MetricsSourceName | null } {
  const reader = readerOf(body, 'body');
  reader.rejectUnknown(['id', 'name', 'policy', 'metricsSource']);
  const patch = policyPatch((body as Record<string, unknown>).policy);
  return {
    id: reader.id('id'),
    name: reader.text('name'),
    policy: mergePolicy(DEFAULT_POLICY, patch),
    metricsSource: metricsSourceOf(body) ?? null,
  };
}

export function parseUpdateCluster(body: unknown): ClusterChanges {
  const reader = readerOf(body, 'body');
  reader.rejectUnknown(['name', 'policy', 'metricsSource']);
  return {
    name: reader.has('name') ? reader.text('name') : undefined,
    policy: policyPatch((body as Record<string, unknown>).policy),
    metricsSource: metricsSourceOf(body),
  };
}

/** The current policy with the given fields replaced (null clears an optional one), validated as a whole. */
export function mergePolicy(current: Policy, patch: Record<string, unknown> | undefined): Policy {
  if (!patch) return current;
  const weights = patch.resourceWeights;
  const merged: Record<string, unknown> = {
    ...current,
    ...patch,
    resourceWeights:
      typeof weights === 'object' && weights !== null && !Array.isArray(weights)
        ? { ...current.resourceWeights, ...weights }
        : (weights ?? current.resourceWeights),
  };
  for (const key of Object.keys(merged)) if (merged[key] === null) delete merged[key];
  return parsePolicy(merged, 'policy');
}
