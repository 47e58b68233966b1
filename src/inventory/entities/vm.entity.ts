import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { PowerState, RestartPriority, VmAutomationLevel } from '../../planner/snapshot.js';

@Entity('vms')
export class VmEntity {
  @PrimaryColumn('text')
  id!: string;

  @Column('text', { name: 'cluster_id' })
  clusterId!: string;

  @Column('text', { name: 'host_id' })
  hostId!: string;

  @Column('integer')
  vcpus!: number;

  @Column('double precision', { name: 'memory_mb' })
  memoryMb!: number;

  @Column('double precision', { name: 'cpu_demand_mhz' })
  cpuDemandMhz!: number;

  @Column('double precision', { name: 'memory_active_mb' })
  memoryActiveMb!: number;

  @Column('text', { name: 'power_state' })
  powerState!: PowerState;

  /** null: not set, which means `default`. */
  @Column('text', { name: 'automation_level', nullable: true })
  automationLevel!: VmAutomationLevel | null;

  /** null: not set, which means `medium`. */
  @Column('text', { name: 'restart_priority', nullable: true })
  restartPriority!: RestartPriority | null;

  @Column('text', { array: true })
  networks!: string[];

  @Column('text', { array: true })
  datastores!: string[];

  @Column('text', { name: 'compatibility_group', nullable: true })
  compatibilityGroup!: string | null;

  @Column('double precision', { name: 'memory_dirty_rate_mbps', nullable: true })
  memoryDirtyRateMbps!: number | null;

  /** Size of the VM's disks, which a storage migration copies; null: not known. */
  @Column('double precision', { name: 'disk_mb', nullable: true })
  diskMb!: number | null;

  @Column('timestamptz', { name: 'last_migrated_at', nullable: true })
  lastMigratedAt!: Date | null;

  /** The domain's name on its host, as discovery found it. */
  @Column('text', { nullable: true })
  name!: string | null;

  /** The NICs' MAC addresses as discovery found them (null: never discovered; engines derive one from the id). */
  @Column('text', { name: 'mac_addresses', array: true, nullable: true })
  macAddresses!: string[] | null;

  /** Discovery found the VM on no host since then (it is kept, not deleted). */
  @Column('timestamptz', { name: 'missing_since', nullable: true })
  missingSince!: Date | null;

  /** Its host failed and it has not run anywhere since (HA restarts it, src/closedloop/ha.service.ts). */
  @Column('timestamptz', { name: 'down_since', nullable: true })
  downSince!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
