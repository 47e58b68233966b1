import { Column, CreateDateColumn, Entity, PrimaryColumn, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { EngineName, MigrationResult, RestartResult } from '../engine/migration-engine.js';
import type { MoveReason } from '../planner/snapshot.js';
import type { HA_RESTART_REASON, MigrationRowKind, MigrationState } from './migration-state.js';
import type { MigrationPrediction } from './prediction.js';

@Entity('migrations')
export class MigrationEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column('text', { name: 'cluster_id' })
  clusterId!: string;

  @Column('uuid', { name: 'plan_id', nullable: true })
  planId!: string | null;

  /** The move's position in its plan: moves of one plan run in an order that keeps every step valid. */
  @Column('integer', { name: 'move_index', nullable: true })
  moveIndex!: number | null;

  @Column('text')
  kind!: MigrationRowKind;

  @Column('text', { name: 'vm_id' })
  vmId!: string;

  @Column('text', { name: 'source_host_id' })
  sourceHostId!: string;

  @Column('text', { name: 'target_host_id' })
  targetHostId!: string;

  /** The maintenance operation this migration evacuates a host for. */
  @Column('uuid', { name: 'operation_id', nullable: true })
  operationId!: string | null;

  @Column('text', { name: 'source_datastore_id', nullable: true })
  sourceDatastoreId!: string | null;

  @Column('text', { name: 'target_datastore_id', nullable: true })
  targetDatastoreId!: string | null;

  @Column('integer')
  priority!: number;

  /** The API key that asked for the migration (approved its plan, started the maintenance); null: Ballast itself. */
  /** The engine (MIGRATION_ENGINE) it was created under, which knows its VM; null: made before this was recorded. */
  @Column('text', { nullable: true })
  engine!: EngineName | null;

  @Column('text', { name: 'requested_by_key_id', nullable: true })
  requestedByKeyId!: string | null;

  @Column('text')
  reason!: MoveReason | 'storage' | typeof HA_RESTART_REASON;

  @Column('text')
  state!: MigrationState;

  @Column('integer')
  attempts!: number;

  @Column('boolean', { name: 'cancel_requested' })
  cancelRequested!: boolean;

  @Column('text', { nullable: true })
  error!: string | null;

  @Column('jsonb', { nullable: true })
  result!: MigrationResult | RestartResult | null;

  /** The planner's pre-copy estimate at the start (compute migrations), beside the engine's `result`. */
  @Column('jsonb', { nullable: true })
  prediction!: MigrationPrediction | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column('timestamptz', { name: 'queued_at', nullable: true })
  queuedAt!: Date | null;

  @Column('timestamptz', { name: 'started_at', nullable: true })
  startedAt!: Date | null;

  @Column('timestamptz', { name: 'finished_at', nullable: true })
  finishedAt!: Date | null;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}

@Entity('migration_events')
export class MigrationEventEntity {
  @PrimaryColumn('uuid', { name: 'migration_id' })
  migrationId!: string;

  /** Orders a migration's history. */
  @PrimaryGeneratedColumn('increment', { type: 'bigint' })
  id!: string;

  @Column('timestamptz')
  at!: Date;

  /** `state` for a transition; `progress`, `retry`, `reconciled`, `cancel-requested` for the rest. */
  @Column('text')
  type!: string;

  @Column('text', { name: 'from_state', nullable: true })
  fromState!: MigrationState | null;

  @Column('text', { name: 'to_state', nullable: true })
  toState!: MigrationState | null;

  @Column('jsonb', { nullable: true })
  detail!: Record<string, unknown> | null;
}
