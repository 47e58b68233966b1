import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { HostState } from '../../planner/snapshot.js';

@Entity('hosts')
export class HostEntity {
  @PrimaryColumn('text')
  id!: string;

  @Column('text', { name: 'cluster_id' })
  clusterId!: string;

  @Column('double precision', { name: 'cpu_capacity_mhz' })
  cpuCapacityMhz!: number;

  @Column('double precision', { name: 'memory_capacity_mb' })
  memoryCapacityMb!: number;

  @Column('text')
  state!: HostState;

  @Column('text', { name: 'compatibility_group', nullable: true })
  compatibilityGroup!: string | null;

  @Column('text', { array: true })
  networks!: string[];

  @Column('text', { array: true })
  datastores!: string[];

  @Column('double precision', { name: 'migration_bandwidth_mbps', nullable: true })
  migrationBandwidthMbps!: number | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
