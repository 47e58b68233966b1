import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { HOST_STATES, POWER_STATES, RESTART_PRIORITIES, RULE_KINDS, RULE_MODES, VM_AUTOMATION_LEVELS } from '../planner/snapshot.js';

/** OpenAPI shapes of hosts, VMs and rules: FORMAT.md items plus the cluster they belong to. */
export class HostDto {
  @ApiProperty({ example: 'esx-001' }) id!: string;
  @ApiProperty({ example: 'prod-a' }) clusterId!: string;
  @ApiProperty({ example: 76800 }) cpuCapacityMhz!: number;
  @ApiProperty({ example: 524288 }) memoryCapacityMb!: number;
  @ApiProperty({ enum: HOST_STATES }) state!: string;
  @ApiPropertyOptional({ description: 'VMs move only between hosts of one group (EVC-like)' }) compatibilityGroup?: string;
  @ApiProperty({ type: [String], example: ['mgmt', 'prod'] }) networks!: string[];
  @ApiProperty({ type: [String], example: ['ds-shared-1'] }) datastores!: string[];
  @ApiPropertyOptional({ example: 10000 }) migrationBandwidthMbps?: number;
}

export class VmDto {
  @ApiProperty({ example: 'vm-00001' }) id!: string;
  @ApiProperty({ readOnly: true, description: 'The cluster of its host' }) clusterId!: string;
  @ApiProperty({ example: 'esx-001' }) hostId!: string;
  @ApiProperty({ example: 4 }) vcpus!: number;
  @ApiProperty({ example: 16384 }) memoryMb!: number;
  @ApiProperty({ example: 2100 }) cpuDemandMhz!: number;
  @ApiProperty({ example: 9000 }) memoryActiveMb!: number;
  @ApiProperty({ enum: POWER_STATES }) powerState!: string;
  @ApiPropertyOptional({ enum: VM_AUTOMATION_LEVELS }) automationLevel?: string;
  @ApiPropertyOptional({ enum: RESTART_PRIORITIES, description: 'Order of HA restarts when its host fails (default medium; disabled: never restarted)' }) restartPriority?: string;
  @ApiProperty({ type: [String] }) networks!: string[];
  @ApiProperty({ type: [String] }) datastores!: string[];
  @ApiPropertyOptional() compatibilityGroup?: string;
  @ApiPropertyOptional({ example: 400 }) memoryDirtyRateMbps?: number;
  @ApiPropertyOptional({ example: 40960, description: 'Size of its disks, which storage vMotion copies' }) diskMb?: number;
  @ApiPropertyOptional({ format: 'date-time' }) lastMigratedAt?: string;
  @ApiPropertyOptional({ format: 'date-time', readOnly: true, description: 'Down since its host failed (HA restarts it); absent: up' }) downSince?: string;
}

export class RuleDto {
  @ApiProperty({ example: 'web-apart' }) id!: string;
  @ApiProperty({ example: 'prod-a', description: 'On create it may be left out: the cluster of its VMs' }) clusterId!: string;
  @ApiProperty({ enum: RULE_KINDS }) kind!: string;
  @ApiProperty({ enum: RULE_MODES }) mode!: string;
  @ApiProperty({ type: [String] }) vmIds!: string[];
  @ApiPropertyOptional({ type: [String], description: 'Only for vm-host rules' }) hostIds?: string[];
  @ApiPropertyOptional({ description: 'false: the rule is kept but ignored' }) enabled?: boolean;
}
