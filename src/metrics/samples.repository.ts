import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { ADVISORY_LOCKS } from '../database/advisory-locks.js';
import { numberArrayLiteral, textArrayLiteral } from '../database/pg-arrays.js';
import { pgErrorCode } from '../database/pg-errors.js';
import { executePrepared } from '../database/prepared.js';
import type { SubjectKind } from './series.repository.js';

/** One sample as stored: its series, its time (ms since the epoch) and its figures (null: none). */
export interface SampleRow {
  seriesId: number;
  at: number;
  cpuMhz: number | null;
  memoryMb: number | null;
  cpuContention?: number | null;
}

/** One sample as pushed: the VM or host it is about by id (its series is found when it is stored). */
export interface SubjectSampleRow {
  kind: SubjectKind;
  id: string;
  at: number;
  cpuMhz: number;
  memoryMb: number;
  cpuContention: number | null;
}

/** One figure of a series in a smoothing window: its values in the short window, the sum and count of all. */
export interface FigureWindow {
  recent: number[];
  sum: number;
  count: number;
}

export interface SmoothingWindow {
  seriesId: number;
  /** The newest sample's time (ms), figures or not. */
  newestAt: number;
  cpuMhz: FigureWindow;
  memoryMb: FigureWindow;
}

/** A step of a series: average and maximum of the samples in [at, at + step). */
export interface SeriesPoint {
  at: string;
  samples: number;
  cpuMhz: { avg: number | null; max: number | null };
  memoryMb: { avg: number | null; max: number | null };
  /** Share of time the vCPUs were ready but not running (sources that measure it: libvirt, push); raw samples only. */
  cpuContention?: { avg: number | null; max: number | null };
}

export const DAY_MS = 86_400_000;
export const BUCKET_SECONDS = 300;
const RAW = 'metric_samples';
const ROLLUP = 'metric_samples_5m';
const PG_NO_PARTITION = '23514';

/**
 * Pushed samples by VM or host id. The batch is materialized once and stored only when none of
 * its ids lacks a series (all or nothing, in one statement).
 */
const INSERT_BY_SUBJECT = `
  WITH batch AS MATERIALIZED (
    SELECT coalesce(v.id, h.id) AS series_id, u.t, u.c, u.m, u.x
    FROM unnest($1::text[], $2::text[], $3::float8[], $4::real[], $5::real[], $6::real[]) AS u(vm, host, t, c, m, x)
    LEFT JOIN metric_series v ON v.vm_id = u.vm
    LEFT JOIN metric_series h ON h.host_id = u.host
  )
  INSERT INTO ${RAW} (at, series_id, cpu_mhz, memory_mb, cpu_contention)
  SELECT to_timestamp(t / 1000.0), series_id, c, m, x FROM batch
  WHERE NOT EXISTS (SELECT 1 FROM batch WHERE series_id IS NULL)`;

function dayName(table: string, dayStart: number): string {
  return `${table}_${new Date(dayStart).toISOString().slice(0, 10).replace(/-/g, '')}`;
}

function dayOfName(name: string): number {
  const digits = name.slice(-8);
  return Date.UTC(Number(digits.slice(0, 4)), Number(digits.slice(4, 6)) - 1, Number(digits.slice(6, 8)));
}

export function startOfDay(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

export interface RollupResult {
  downsampledDays: string[];
  droppedDays: string[];
}

/**
 * The SQL of the sample tables: `metric_samples` (raw, partitioned by day), `metric_samples_5m`
 * (5-minute averages and maxima, partitioned by day) and `metrics_rollup` (the time before which
 * readers take the 5-minute rows). Partitions are created as plain tables and then attached, which
 * takes no lock that stops writers; they are dropped after a concurrent detach, for the same reason.
 */
@Injectable()
export class SamplesRepository {
  private readonly logger = new Logger(SamplesRepository.name);
  /** Partitions this process knows to exist (another process may drop old ones: see insert). */
  private readonly known = new Set<string>();

  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /** Makes sure the day partition of `table` holding `ms` exists (in a transaction of its own). */
  async ensureDay(table: typeof RAW | typeof ROLLUP, ms: number): Promise<void> {
    const dayStart = startOfDay(ms);
    const name = dayName(table, dayStart);
    if (this.known.has(name)) return;
    await this.db.transaction(async (manager) => {
      await manager.query(`SELECT pg_advisory_xact_lock($1, hashtext(''))`, [ADVISORY_LOCKS.samplePartitions]);
      const [attached] = await manager.query(
        `SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass AND c.relname = $2`,
        [table, name],
      );
      if (attached) return;
      const from = new Date(dayStart).toISOString();
      const to = new Date(dayStart + DAY_MS).toISOString();
      const key = table === RAW ? 'at' : 'bucket';
      // The check lets ATTACH skip its scan; the new table is empty anyway.
      await manager.query(`CREATE TABLE IF NOT EXISTS ${name} (LIKE ${table} INCLUDING DEFAULTS, CHECK (${key} >= '${from}' AND ${key} < '${to}'))`);
      await manager.query(`ALTER TABLE ${table} ATTACH PARTITION ${name} FOR VALUES FROM ('${from}') TO ('${to}')`);
    });
    this.known.add(name);
  }

  /** Today's and tomorrow's raw partitions, so that the collector and pushes rarely wait for one. */
  async prepare(now: number): Promise<void> {
    await this.ensureDay(RAW, now);
    await this.ensureDay(RAW, now + DAY_MS);
  }

  /**
   * Inserts samples in one statement (the rows travel as five arrays). Outside a transaction a
   * partition that another process dropped meanwhile is created again and the insert retried.
   */
  async insert(rows: readonly SampleRow[], manager?: EntityManager): Promise<void> {
    if (rows.length === 0) return;
    const columns = [
      numberArrayLiteral(rows.map((r) => r.at)),
      numberArrayLiteral(rows.map((r) => r.seriesId)),
      numberArrayLiteral(rows.map((r) => r.cpuMhz)),
      numberArrayLiteral(rows.map((r) => r.memoryMb)),
      numberArrayLiteral(rows.map((r) => r.cpuContention)),
    ];
    const sql = `INSERT INTO ${RAW} (at, series_id, cpu_mhz, memory_mb, cpu_contention)
      SELECT to_timestamp(t / 1000.0), s, c, m, x FROM unnest($1::float8[], $2::int[], $3::real[], $4::real[], $5::real[]) AS u(t, s, c, m, x)`;
    await this.intoDays(rows, manager, (into) => into.query(sql, columns));
  }

  /**
   * Inserts pushed samples in one statement that finds each VM's or host's series itself, if every
   * one of them has a series: otherwise it stores nothing and answers false (the caller then looks
   * the ids up, to name those that are unknown and give the others their series). A deleted VM or
   * host has no series (it went with it), so its samples are never stored here.
   */
  async insertBySubject(rows: readonly SubjectSampleRow[]): Promise<boolean> {
    if (rows.length === 0) return true;
    let hosts = 0;
    let contentions = 0;
    for (const r of rows) {
      if (r.kind === 'host') hosts++;
      if (r.cpuContention !== null) contentions++;
    }
    // unnest pads the shorter arrays with NULLs: a batch of VMs only sends no host ids, and one
    // without contention no contentions.
    const columns = [
      textArrayLiteral(hosts === rows.length ? [] : rows.map((r) => (r.kind === 'vm' ? r.id : null))),
      textArrayLiteral(hosts === 0 ? [] : rows.map((r) => (r.kind === 'host' ? r.id : null))),
      numberArrayLiteral(rows.map((r) => r.at)),
      numberArrayLiteral(rows.map((r) => r.cpuMhz)),
      numberArrayLiteral(rows.map((r) => r.memoryMb)),
      numberArrayLiteral(contentions === 0 ? [] : rows.map((r) => r.cpuContention)),
    ];
    const stored = await this.intoDays(rows, undefined, (into) => executePrepared(into, 'metric-samples-by-subject', INSERT_BY_SUBJECT, columns));
    return stored === rows.length;
  }

  /**
   * Runs an insert of `rows` once their day partitions exist; outside a transaction, a partition
   * that another process dropped meanwhile is created again and the insert retried.
   */
  private async intoDays<T>(rows: readonly { at: number }[], manager: EntityManager | undefined, insert: (into: EntityManager) => Promise<T>): Promise<T> {
    const days = new Set<number>();
    for (const r of rows) days.add(startOfDay(r.at));
    for (const day of days) await this.ensureDay(RAW, day);
    try {
      return await insert(manager ?? this.db.manager);
    } catch (error) {
      if (manager?.queryRunner?.isTransactionActive || pgErrorCode(error) !== PG_NO_PARTITION) throw error;
      this.known.clear();
      for (const day of days) await this.ensureDay(RAW, day);
      return insert(this.db.manager);
    }
  }

  /**
   * What smoothing needs of each series that has raw samples in (from, to]: the time of its newest
   * one, and for each figure its values after `shortFrom` (in time order) and the sum and count of
   * its values in the whole window. A summary a series rather than every sample (a 30-minute window
   * of 5,000 VMs is 450,000 rows).
   */
  async smoothingWindow(manager: EntityManager, seriesIds: readonly number[], from: number, shortFrom: number, to: number): Promise<SmoothingWindow[]> {
    if (seriesIds.length === 0) return [];
    const rows: { s: number; t: number; cr: number[] | null; cs: number | null; cn: number; mr: number[] | null; ms: number | null; mn: number }[] = await manager.query(
      `SELECT series_id AS s, (max(extract(epoch FROM at)) * 1000)::float8 AS t,
              array_agg(cpu_mhz ORDER BY at) FILTER (WHERE cpu_mhz IS NOT NULL AND at > to_timestamp($3 / 1000.0)) AS cr,
              sum(cpu_mhz::float8) AS cs, count(cpu_mhz)::int AS cn,
              array_agg(memory_mb ORDER BY at) FILTER (WHERE memory_mb IS NOT NULL AND at > to_timestamp($3 / 1000.0)) AS mr,
              sum(memory_mb::float8) AS ms, count(memory_mb)::int AS mn
       FROM ${RAW} WHERE series_id = ANY($1) AND at > to_timestamp($2 / 1000.0) AND at <= to_timestamp($4 / 1000.0)
       GROUP BY series_id`,
      [seriesIds, from, shortFrom, to],
    );
    return rows.map((r) => ({
      seriesId: r.s,
      newestAt: r.t,
      cpuMhz: { recent: r.cr ?? [], sum: r.cs ?? 0, count: r.cn },
      memoryMb: { recent: r.mr ?? [], sum: r.ms ?? 0, count: r.mn },
    }));
  }

  /**
   * The series of one VM or host in steps of `stepSeconds` from `from` (inclusive) to `to`
   * (exclusive): raw samples where they are still kept, 5-minute rows before (weighted by their
   * sample counts). Steps without samples are left out.
   */
  async series(seriesIds: readonly number[], from: number, to: number, stepSeconds: number): Promise<Map<number, SeriesPoint[]>> {
    const [{ until }]: { until: Date | number }[] = await this.db.query(`SELECT extract(epoch FROM downsampled_until) * 1000 AS until FROM metrics_rollup`);
    const split = Math.min(Math.max(Number(until), from), to);
    const steps = new StepSums(from, stepSeconds);
    // Each part gets its own bounds, so that only the partitions of its days are read.
    if (split < to) {
      // Raw samples are many per step: PostgreSQL folds them, and sends one row a step.
      const rows: { s: number; k: number; n: number; csum: number | null; cmax: number | null; msum: number | null; mmax: number | null; xn: number; xsum: number | null; xmax: number | null }[] =
        await this.db.query(
          `SELECT series_id AS s, floor((date_part('epoch', at) - $2::float8 / 1000) / $3::float8)::int AS k,
                  count(cpu_mhz)::int AS n, sum(cpu_mhz::float8) AS csum, max(cpu_mhz) AS cmax, sum(memory_mb::float8) AS msum, max(memory_mb) AS mmax,
                  count(cpu_contention)::int AS xn, sum(cpu_contention::float8) AS xsum, max(cpu_contention) AS xmax
           FROM ${RAW} WHERE series_id = ANY($1) AND at >= to_timestamp($4 / 1000.0) AND at < to_timestamp($5 / 1000.0) GROUP BY 1, 2`,
          [seriesIds, from, stepSeconds, split, to],
        );
      for (const r of rows) steps.add(r.s, r.k, r);
    }
    if (from < split) {
      // 5-minute rows are read in index order and folded here: at a 5-minute step each row is a
      // point, and sorting and grouping them in PostgreSQL took most of a 30-day read.
      const rows: { s: number; t: number; n: number; ca: number | null; cm: number | null; ma: number | null; mm: number | null }[] = await this.db.query(
        `SELECT series_id AS s, extract(epoch FROM bucket)::float8 * 1000 AS t, samples AS n, cpu_avg AS ca, cpu_max AS cm, memory_avg AS ma, memory_max AS mm
         FROM ${ROLLUP} WHERE series_id = ANY($1) AND bucket >= to_timestamp($2 / 1000.0) AND bucket < to_timestamp($3 / 1000.0)`,
        [seriesIds, from, split],
      );
      for (const r of rows) {
        steps.add(r.s, steps.stepOf(r.t), {
          n: r.n,
          csum: r.ca === null ? null : r.ca * r.n,
          cmax: r.cm,
          msum: r.ma === null ? null : r.ma * r.n,
          mmax: r.mm,
          xn: 0,
          xsum: null,
          xmax: null,
        });
      }
    }
    return steps.points(seriesIds);
  }

  /**
   * Downsampling and retention, in bulk: every raw day that ended at least a day before `now` is
   * detached (concurrently: writers go on), folded into 5-minute averages and maxima, and dropped in
   * one transaction; every 5-minute day older than the retention is detached and dropped. One
   * process at a time (the others skip).
   */
  async rollup(now: number, retentionDays: number): Promise<RollupResult | null> {
    const runner = this.db.createQueryRunner();
    await runner.connect();
    try {
      const [{ locked }] = await runner.query(`SELECT pg_try_advisory_lock($1, hashtext('')) AS locked`, [ADVISORY_LOCKS.sampleRollup]);
      if (!locked) return null;
      try {
        const result: RollupResult = { downsampledDays: [], droppedDays: [] };
        for (const name of await this.dayTables(runner.manager, RAW)) {
          const day = dayOfName(name);
          if (day + DAY_MS > now - DAY_MS) continue;
          await this.detach(runner.manager, RAW, name);
          await this.ensureDay(ROLLUP, day);
          await runner.manager.transaction(async (tx) => {
            await tx.query(
              `INSERT INTO ${ROLLUP} AS r (bucket, series_id, samples, cpu_avg, cpu_max, memory_avg, memory_max)
               SELECT to_timestamp(floor(extract(epoch FROM at) / ${BUCKET_SECONDS}) * ${BUCKET_SECONDS}), series_id,
                      count(cpu_mhz), avg(cpu_mhz), max(cpu_mhz), avg(memory_mb), max(memory_mb)
               FROM ${name} GROUP BY 1, 2
               ON CONFLICT (series_id, bucket) DO UPDATE SET
                 samples = r.samples + excluded.samples,
                 cpu_avg = (coalesce(r.cpu_avg * r.samples, 0) + coalesce(excluded.cpu_avg * excluded.samples, 0)) / nullif(r.samples + excluded.samples, 0),
                 cpu_max = greatest(r.cpu_max, excluded.cpu_max),
                 memory_avg = (coalesce(r.memory_avg * r.samples, 0) + coalesce(excluded.memory_avg * excluded.samples, 0)) / nullif(r.samples + excluded.samples, 0),
                 memory_max = greatest(r.memory_max, excluded.memory_max)`,
            );
            await tx.query(`UPDATE metrics_rollup SET downsampled_until = greatest(downsampled_until, to_timestamp($1 / 1000.0))`, [day + DAY_MS]);
            await tx.query(`DROP TABLE ${name}`);
          });
          this.known.delete(name);
          result.downsampledDays.push(new Date(day).toISOString().slice(0, 10));
        }
        const oldest = startOfDay(now) - retentionDays * DAY_MS;
        for (const name of await this.dayTables(runner.manager, ROLLUP)) {
          const day = dayOfName(name);
          if (day >= oldest) continue;
          await this.detach(runner.manager, ROLLUP, name);
          await runner.query(`DROP TABLE ${name}`);
          this.known.delete(name);
          result.droppedDays.push(new Date(day).toISOString().slice(0, 10));
        }
        if (result.downsampledDays.length + result.droppedDays.length > 0) {
          this.logger.log(`samples: downsampled ${result.downsampledDays.join(', ') || 'no day'}; dropped ${result.droppedDays.join(', ') || 'no day'}`);
        }
        return result;
      } finally {
        await runner.query(`SELECT pg_advisory_unlock($1, hashtext(''))`, [ADVISORY_LOCKS.sampleRollup]);
      }
    } finally {
      await runner.release();
    }
  }

  /** Day tables of a sample table, attached or left detached by an interrupted pass, oldest first. */
  private async dayTables(manager: EntityManager, table: string): Promise<string[]> {
    const rows: { name: string }[] = await manager.query(
      `SELECT relname AS name FROM pg_class WHERE relkind = 'r' AND relname ~ $1 ORDER BY relname`,
      [`^${table}_[0-9]{8}$`],
    );
    return rows.map((r) => r.name);
  }

  /** Detaches a day partition without blocking writers (finishing a detach an earlier pass began). */
  private async detach(manager: EntityManager, table: string, name: string): Promise<void> {
    const [state] = await manager.query(
      `SELECT i.inhdetachpending AS pending FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass AND c.relname = $2`,
      [table, name],
    );
    if (!state) return;
    await manager.query(state.pending ? `ALTER TABLE ${table} DETACH PARTITION ${name} FINALIZE` : `ALTER TABLE ${table} DETACH PARTITION ${name} CONCURRENTLY`);
  }
}

/** Sums of one step of a series, from raw groups or 5-minute rows. */
interface StepSum {
  n: number;
  csum: number | null;
  cmax: number | null;
  msum: number | null;
  mmax: number | null;
  xn: number;
  xsum: number | null;
  xmax: number | null;
}

const addOrNull = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : a + b);
const maxOrNull = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));

/** The steps of series being read, summed part by part (a step may straddle raw and 5-minute data). */
class StepSums {
  private readonly bySeries = new Map<number, Map<number, StepSum>>();

  constructor(
    private readonly from: number,
    private readonly stepSeconds: number,
  ) {}

  stepOf(atMs: number): number {
    return Math.floor((atMs - this.from) / 1000 / this.stepSeconds);
  }

  add(series: number, k: number, sum: StepSum): void {
    let steps = this.bySeries.get(series);
    if (!steps) this.bySeries.set(series, (steps = new Map()));
    const had = steps.get(k);
    if (!had) {
      steps.set(k, { ...sum });
      return;
    }
    had.n += sum.n;
    had.csum = addOrNull(had.csum, sum.csum);
    had.cmax = maxOrNull(had.cmax, sum.cmax);
    had.msum = addOrNull(had.msum, sum.msum);
    had.mmax = maxOrNull(had.mmax, sum.mmax);
    had.xn += sum.xn;
    had.xsum = addOrNull(had.xsum, sum.xsum);
    had.xmax = maxOrNull(had.xmax, sum.xmax);
  }

  points(seriesIds: readonly number[]): Map<number, SeriesPoint[]> {
    const average = (sum: number | null, n: number) => (sum === null || n === 0 ? null : sum / n);
    return new Map(
      seriesIds.map((id) => [
        id,
        [...(this.bySeries.get(id) ?? new Map<number, StepSum>())]
          .sort(([a], [b]) => a - b)
          .map(([k, s]) => {
            const xavg = average(s.xsum, s.xn);
            return {
              at: new Date(this.from + k * this.stepSeconds * 1000).toISOString(),
              samples: s.n,
              cpuMhz: { avg: average(s.csum, s.n), max: s.cmax },
              memoryMb: { avg: average(s.msum, s.n), max: s.mmax },
              ...(xavg !== null ? { cpuContention: { avg: xavg, max: s.xmax } } : {}),
            };
          }),
      ]),
    );
  }
}
