import { Column, CreateDateColumn, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

export const OPERATION_STATES = ['evacuating', 'stalled', 'completed', 'cancelled'] as const;
export type OperationState = (typeof OPERATION_STATES)[number];
export const ACTIVE_OPERATION_STATES: readonly OperationState[] = ['evacuating', 'stalled'];

/** A host entering maintenance: its evacuation, until the host is empty (or the operator gives up). */
@Entity('maintenance_operations')
export class MaintenanceOperationEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column('text', { name: 'cluster_id' })
  clusterId!: string;

  @Column('text', { name: 'host_id' })
  hostId!: string;

  @Column('text')
  state!: OperationState;

  @Column('boolean', { name: 'include_powered_off' })
  includePoweredOff!: boolean;

  @Column('integer', { name: 'timeout_seconds' })
  timeoutSeconds!: number;

  /** VMs not gone by then leave the operation `stalled`. */
  @Column('timestamptz')
  deadline!: Date;

  /** The VMs that had to leave the host when the operation began. */
  @Column('text', { name: 'vm_ids', array: true })
  vmIds!: string[];

  /** Why VMs could not leave (when stalled), per VM. */
  @Column('jsonb', { nullable: true })
  reasons!: { vmId: string; reason: string }[] | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column('timestamptz', { name: 'finished_at', nullable: true })
  finishedAt!: Date | null;

  @Column('timestamptz', { name: 'exited_at', nullable: true })
  exitedAt!: Date | null;

  @Column('uuid', { name: 'return_plan_id', nullable: true })
  returnPlanId!: string | null;

  /** The API key that put the host into maintenance (its evacuation's plans and migrations carry it too). */
  @Column('text', { name: 'requested_by_key_id', nullable: true })
  requestedByKeyId!: string | null;
}

@Entity('maintenance_events')
export class MaintenanceEventEntity {
  @PrimaryColumn('uuid', { name: 'operation_id' })
  operationId!: string;

  @PrimaryGeneratedColumn('increment', { type: 'bigint' })
  id!: string;

  @Column('timestamptz', { default: () => 'clock_timestamp()' })
  at!: Date;

  /** entering, planned, retry-planned, stalled, retried, completed, cancelled, exited. */
  @Column('text')
  type!: string;

  @Column('jsonb', { nullable: true })
  detail!: Record<string, unknown> | null;
}
