import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Inventory1764000000000 implements MigrationInterface {
  name = 'Inventory1764000000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE clusters (
        id text PRIMARY KEY,
        name text NOT NULL,
        policy jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`
      CREATE TABLE hosts (
        id text PRIMARY KEY,
        cluster_id text NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        cpu_capacity_mhz double precision NOT NULL CHECK (cpu_capacity_mhz > 0),
        memory_capacity_mb double precision NOT NULL CHECK (memory_capacity_mb > 0),
        state text NOT NULL CHECK (state IN ('connected', 'entering-maintenance', 'maintenance', 'quarantine', 'failed', 'standby')),
        compatibility_group text,
        networks text[] NOT NULL DEFAULT '{}',
        datastores text[] NOT NULL DEFAULT '{}',
        migration_bandwidth_mbps double precision CHECK (migration_bandwidth_mbps > 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (id, cluster_id)
      )`);
    await db.query(`CREATE INDEX hosts_cluster_idx ON hosts (cluster_id, id)`);
    // The composite key makes "a VM on a host of another cluster" impossible, whatever the writer.
    // NO ACTION (checked at the end of the statement) lets a cluster's deletion cascade to both.
    await db.query(`
      CREATE TABLE vms (
        id text PRIMARY KEY,
        cluster_id text NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        host_id text NOT NULL,
        vcpus integer NOT NULL CHECK (vcpus > 0),
        memory_mb double precision NOT NULL CHECK (memory_mb > 0),
        cpu_demand_mhz double precision NOT NULL CHECK (cpu_demand_mhz >= 0),
        memory_active_mb double precision NOT NULL CHECK (memory_active_mb >= 0),
        power_state text NOT NULL CHECK (power_state IN ('on', 'off')),
        automation_level text CHECK (automation_level IN ('default', 'manual', 'disabled')),
        networks text[] NOT NULL DEFAULT '{}',
        datastores text[] NOT NULL DEFAULT '{}',
        compatibility_group text,
        memory_dirty_rate_mbps double precision CHECK (memory_dirty_rate_mbps >= 0),
        last_migrated_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        FOREIGN KEY (host_id, cluster_id) REFERENCES hosts (id, cluster_id) ON DELETE NO ACTION
      )`);
    await db.query(`CREATE INDEX vms_cluster_idx ON vms (cluster_id, id)`);
    await db.query(`CREATE INDEX vms_host_idx ON vms (host_id)`);
    await db.query(`
      CREATE TABLE rules (
        id text PRIMARY KEY,
        cluster_id text NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        kind text NOT NULL CHECK (kind IN ('vm-anti-affinity', 'vm-affinity', 'vm-host-affinity', 'vm-host-anti-affinity')),
        mode text NOT NULL CHECK (mode IN ('must', 'should')),
        vm_ids text[] NOT NULL,
        host_ids text[],
        enabled boolean,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX rules_cluster_idx ON rules (cluster_id, id)`);
    await db.query(`CREATE INDEX rules_vm_ids_idx ON rules USING gin (vm_ids)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE rules`);
    await db.query(`DROP TABLE vms`);
    await db.query(`DROP TABLE hosts`);
    await db.query(`DROP TABLE clusters`);
  }
}
