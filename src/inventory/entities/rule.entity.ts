import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { RuleKind, RuleMode } from '../../planner/snapshot.js';

@Entity('rules')
export class RuleEntity {
  @PrimaryColumn('text')
  id!: string;

  @Column('text', { name: 'cluster_id' })
  clusterId!: string;

  @Column('text')
  kind!: RuleKind;

  @Column('text')
  mode!: RuleMode;

  @Column('text', { name: 'vm_ids', array: true })
  vmIds!: string[];

  /** Only for vm-host rules. */
  @Column('text', { name: 'host_ids', array: true, nullable: true })
  hostIds!: string[] | null;

  /** null: not set, which means enabled. */
  @Column('boolean', { nullable: true })
  enabled!: boolean | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
