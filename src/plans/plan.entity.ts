import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { HostState, Move, Unresolved } from '../planner/snapshot.js';

export const PLAN_STATUSES = ['proposed', 'approved', 'rejected'] as const;
export type PlanStatus = (typeof PLAN_STATUSES)[number];
export const PLAN_SOURCES = ['operator', 'scheduler', 'maintenance'] as const;
export type PlanSource = (typeof PLAN_SOURCES)[number];

@Entity('plans')
export class PlanEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column('text', { name: 'cluster_id' })
  clusterId!: string;

  @Column('text')
  status!: PlanStatus;

  @Column('text')
  source!: PlanSource;

  @Column('integer')
  threshold!: number;

  @Column('timestamptz', { name: 'snapshot_taken_at' })
  snapshotTakenAt!: Date;

  @Column('double precision', { name: 'imbalance_before' })
  imbalanceBefore!: number;

  @Column('double precision', { name: 'imbalance_after' })
  imbalanceAfter!: number;

  @Column('jsonb')
  moves!: Move[];

  @Column('jsonb')
  unresolved!: Unresolved[];

  @Column('jsonb')
  trace!: unknown;

  /** How long the planner took (null for plans Ballast recorded without planning). */
  @Column('double precision', { name: 'planning_ms', nullable: true })
  planningMs!: number | null;

  /** The state of every host when the plan was made (approval checks each move against the hosts as they are then). */
  @Column('jsonb', { name: 'host_states' })
  hostStates!: Record<string, HostState>;

  @Column('integer', { name: 'approved_moves', array: true, nullable: true })
  approvedMoves!: number[] | null;

  /** The API key that asked for the plan; null when Ballast made it (scheduler, closed loop). */
  @Column('text', { name: 'requested_by_key_id', nullable: true })
  requestedByKeyId!: string | null;

  /** The API key that approved it; null while not approved, or when Ballast approved it itself. */
  @Column('text', { name: 'approved_by_key_id', nullable: true })
  approvedByKeyId!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column('timestamptz', { name: 'decided_at', nullable: true })
  decidedAt!: Date | null;
}
