import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { MetricsSourceName } from '../../metrics/metrics-source.js';
import type { Policy } from '../../planner/snapshot.js';

@Entity('clusters')
export class ClusterEntity {
  @PrimaryColumn('text')
  id!: string;

  @Column('text')
  name!: string;

  @Column('jsonb')
  policy!: Policy;

  /** null: the installation's default (METRICS_SOURCE). */
  @Column('text', { name: 'metrics_source', nullable: true })
  metricsSource!: MetricsSourceName | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
