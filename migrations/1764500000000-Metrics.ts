import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Measured load: the source of each cluster, a small integer id per measured VM or host, raw samples
 * (kept a day) and 5-minute averages and maxima (kept for the retention), the collector's state of
 * each cluster, and the outcome of each cluster's last planning run.
 *
 * Samples are the biggest table of Ballast, so a row is compact: an integer series id instead of a
 * text id, single-precision figures, no per-row defaults or keys. Both sample tables are partitioned
 * by day (UTC): retention and downsampling detach and drop whole partitions instead of deleting
 * rows, so writers are never locked out. Partitions are created ahead of use by the metrics module
 * (src/metrics/samples.repository.ts), not here.
 */
export class Metrics1764500000000 implements MigrationInterface {
  name = 'Metrics1764500000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE clusters ADD COLUMN metrics_source text CHECK (metrics_source IN ('simulated', 'prometheus', 'push', 'libvirt'))`);
    // A series goes with its VM or host; its samples stay until the retention takes them.
    await db.query(`
      CREATE TABLE metric_series (
        id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        vm_id text UNIQUE REFERENCES vms(id) ON DELETE CASCADE,
        host_id text UNIQUE REFERENCES hosts(id) ON DELETE CASCADE,
        baseline_cpu_mhz double precision,
        baseline_memory_mb double precision,
        last_sample_at timestamptz,
        CHECK ((vm_id IS NULL) <> (host_id IS NULL))
      )`);
    await db.query(`
      CREATE TABLE metric_samples (
        at timestamptz NOT NULL,
        series_id integer NOT NULL,
        cpu_mhz real,
        memory_mb real,
        cpu_contention real
      ) PARTITION BY RANGE (at)`);
    await db.query(`CREATE INDEX metric_samples_series_at_idx ON metric_samples (series_id, at)`);
    await db.query(`
      CREATE TABLE metric_samples_5m (
        bucket timestamptz NOT NULL,
        series_id integer NOT NULL,
        samples integer NOT NULL,
        cpu_avg real,
        cpu_max real,
        memory_avg real,
        memory_max real,
        PRIMARY KEY (series_id, bucket)
      ) PARTITION BY RANGE (bucket)`);
    // Readers take raw samples from this time on and 5-minute rows before it, so that a day being
    // downsampled is never counted twice.
    await db.query(`
      CREATE TABLE metrics_rollup (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        downsampled_until timestamptz NOT NULL DEFAULT '-infinity'
      )`);
    await db.query(`INSERT INTO metrics_rollup DEFAULT VALUES`);
    await db.query(`
      CREATE TABLE metrics_collections (
        cluster_id text PRIMARY KEY REFERENCES clusters(id) ON DELETE CASCADE,
        source text NOT NULL,
        last_attempt_at timestamptz NOT NULL,
        last_success_at timestamptz,
        failing_since timestamptz,
        error text,
        samples integer NOT NULL DEFAULT 0
      )`);
    await db.query(`
      CREATE TABLE planning_runs (
        cluster_id text PRIMARY KEY REFERENCES clusters(id) ON DELETE CASCADE,
        at timestamptz NOT NULL,
        outcome text NOT NULL CHECK (outcome IN ('planned', 'below-target', 'migrations-in-progress', 'locked', 'no-move-pays', 'failed')),
        reason text NOT NULL,
        plan_id uuid REFERENCES plans(id) ON DELETE SET NULL,
        moves integer NOT NULL DEFAULT 0,
        imbalance double precision
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE planning_runs`);
    await db.query(`DROP TABLE metrics_collections`);
    await db.query(`DROP TABLE metrics_rollup`);
    await db.query(`DROP TABLE metric_samples_5m`);
    await db.query(`DROP TABLE metric_samples`);
    await db.query(`DROP TABLE metric_series`);
    await db.query(`ALTER TABLE clusters DROP COLUMN metrics_source`);
  }
}
