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

  /** libvirt URI: the host is managed through libvirt (discovery, the libvirt engine and metrics source). */
  @Column('text', { name: 'connection_uri', nullable: true })
  connectionUri!: string | null;

  /** Where the host's QEMU takes incoming migration streams (`address` or `address:port`). */
  @Column('text', { name: 'migration_address', nullable: true })
  migrationAddress!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
