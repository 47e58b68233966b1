import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { AUTOMATION_LEVELS, type Policy } from '../planner/snapshot.js';
import { parsePolicy, readerOf, SnapshotError } from '../planner/validate-snapshot.js';

/** DRS's defaults: fully automated at the middle threshold. */
export const DEFAULT_POLICY: Policy = {
  automationLevel: 'fully-automated',
  migrationThreshold: 3,
  resourceWeights: { cpu: 1, memory: 1 },
  maxMovesPerRun: 50,
  memoryOvercommitRatio: 1,
};

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
  @ApiPropertyOptional({ minimum: 0 }) migrationCooldownMinutes?: number;
}

export class ClusterDto {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ type: PolicyDto }) policy!: PolicyDto;
  @ApiProperty() hostCount!: number;
  @ApiProperty() vmCount!: number;
}

export class CreateClusterDto {
  @ApiProperty({ example: 'prod-a' }) id!: string;
  @ApiProperty({ example: 'Production A' }) name!: string;
  @ApiPropertyOptional({ type: PolicyDto, description: 'Fields left out take the defaults (DRS: fully automated, threshold 3)' })
  policy?: Partial<PolicyDto>;
}

export class UpdateClusterDto {
  @ApiPropertyOptional() name?: string;
  @ApiPropertyOptional({ type: PolicyDto, description: 'Fields given replace the current ones' }) policy?: Partial<PolicyDto>;
}

export interface ClusterChanges {
  name?: string;
  policy?: Record<string, unknown>;
}

function policyPatch(value: unknown): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SnapshotError('policy', 'must be an object');
  }
  return value as Record<string, unknown>;
}

export function parseCreateCluster(body: unknown): { id: string; name: string; policy: Policy } {
  const reader = readerOf(body, 'body');
  reader.rejectUnknown(['id', 'name', 'policy']);
  const patch = policyPatch((body as Record<string, unknown>).policy);
  return { id: reader.id('id'), name: reader.text('name'), policy: mergePolicy(DEFAULT_POLICY, patch) };
}

export function parseUpdateCluster(body: unknown): ClusterChanges {
  const reader = readerOf(body, 'body');
  reader.rejectUnknown(['name', 'policy']);
  return {
    name: reader.has('name') ? reader.text('name') : undefined,
    policy: policyPatch((body as Record<string, unknown>).policy),
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
