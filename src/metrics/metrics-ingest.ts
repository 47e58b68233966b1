import { Inject, Injectable } from '@nestjs/common';
import { badRequestAll } from '../common/http-errors.js';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { DAY_MS, type SampleRow, SamplesRepository, type SubjectSampleRow } from './samples.repository.js';
import { ISO_8601 } from './series-query.js';
import { SeriesRepository, type SubjectKind } from './series.repository.js';
import { LIMITS } from '../planner/limits.js';

/** The most samples one batch may carry. */
export const MAX_BATCH = 10_000;
/** How far ahead of this server's clock a sample may be (the agents' clocks drift a little). */
export const FUTURE_TOLERANCE_MS = 60_000;

const FIELDS = ['vmId', 'hostId', 'at', 'cpuMhz', 'memoryMb', 'cpuContention'];
const FIELD_SET = new Set(FIELDS);

interface Problem {
  field: string;
  reason: string;
}

type ParsedSample = SubjectSampleRow;

/**
 * Samples pushed by agents (`POST /api/v1/metrics`): a batch is checked as a whole, every bad field
 * and unknown id named, and stored in one statement, or not at all.
 */
@Injectable()
export class MetricsIngest {
  constructor(
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
    private readonly series: SeriesRepository,
    private readonly samples: SamplesRepository,
  ) {}

  async push(body: unknown, now = Date.now()): Promise<{ accepted: number }> {
    const problems: Problem[] = [];
    const parsed = this.parse(body, now, problems);
    // A well-formed batch of VMs and hosts that all have their series (every batch of an agent
    // after its first) is stored by one statement that finds the series itself; it stores nothing
    // when an id has none, and the batch then takes the path below, which names the unknown ids.
    if (problems.length === 0 && (await this.samples.insertBySubject(parsed as ParsedSample[]))) return { accepted: parsed.length };
    const ids = { vm: new Set<string>(), host: new Set<string>() };
    for (const s of parsed) if (s) ids[s.kind].add(s.id);
    const found = { vm: await this.series.lookup('vm', [...ids.vm]), host: await this.series.lookup('host', [...ids.host]) };
    const unknown = { vm: new Set(found.vm.unknown), host: new Set(found.host.unknown) };
    parsed.forEach((s, i) => {
      if (s && unknown[s.kind].has(s.id)) {
        problems.push({ field: `body.samples[${i}].${s.kind}Id`, reason: `there is no ${s.kind === 'vm' ? 'VM' : 'host'} "${s.id}"` });
      }
    });
    if (problems.length > 0) {
      problems.sort((a, b) => fieldOrder(a.field) - fieldOrder(b.field));
      throw badRequestAll(problems);
    }
    // Only a batch that is accepted gives its VMs and hosts their first series.
    for (const kind of ['vm', 'host'] as const) {
      for (const [id, series] of await this.series.create(kind, found[kind].unmeasured)) found[kind].series.set(id, series);
    }
    const rows: SampleRow[] = (parsed as ParsedSample[]).map((s) => ({
      seriesId: found[s.kind].series.get(s.id)!,
      at: s.at,
      cpuMhz: s.cpuMhz,
      memoryMb: s.memoryMb,
      cpuContention: s.cpuContention,
    }));
    await this.samples.insert(rows);
    return { accepted: rows.length };
  }

  /** Each sample parsed, or null where it has problems (which go into `problems`). */
  private parse(body: unknown, now: number, problems: Problem[]): (ParsedSample | null)[] {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      problems.push({ field: 'body', reason: 'must be an object {"samples": [...]}' });
      return [];
    }
    for (const key of Object.keys(body)) if (key !== 'samples') problems.push({ field: `body.${key}`, reason: 'unknown field (allowed: samples)' });
    const samples = (body as { samples?: unknown }).samples;
    if (!Array.isArray(samples) || samples.length === 0) {
      problems.push({ field: 'body.samples', reason: 'must be a non-empty array of samples' });
      return [];
    }
    if (samples.length > MAX_BATCH) {
      problems.push({ field: 'body.samples', reason: `at most ${MAX_BATCH} samples per batch, got ${samples.length}` });
      return [];
    }
    const window: TimeWindow = { oldest: now - this.config.METRICS_RETENTION_DAYS * DAY_MS, newest: now + FUTURE_TOLERANCE_MS, parsedTimes: new Map() };
    const parsed: (ParsedSample | null)[] = new Array(samples.length);
    for (let i = 0; i < samples.length; i++) parsed[i] = parseSample(samples[i], i, window, problems);
    return parsed;
  }
}

interface TimeWindow {
  oldest: number;
  newest: number;
  /** The times of this batch already parsed (NaN: not an ISO-8601 time): an agent's batch holds few distinct ones. */
  parsedTimes: Map<string, number>;
}

function parseTime(raw: string, window: TimeWindow): number {
  let at = window.parsedTimes.get(raw);
  if (at === undefined) {
    at = ISO_8601.test(raw) ? Date.parse(raw) : NaN;
    window.parsedTimes.set(raw, at);
  }
  return at;
}

function parseSample(value: unknown, index: number, window: TimeWindow, problems: Problem[]): ParsedSample | null {
  const before = problems.length;
  // The path is only spelled out for a sample with a problem.
  const fail = (field: string, reason: string) => problems.push({ field: `body.samples[${index}]${field}`, reason });
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail('', 'must be an object');
    return null;
  }
  const s = value as Record<string, unknown>;
  for (const key in s) if (!FIELD_SET.has(key) && Object.hasOwn(s, key)) fail(`.${key}`, `unknown field (allowed: ${FIELDS.join(', ')})`);
  let kind: SubjectKind = 'vm';
  let id = '';
  if ((s.vmId === undefined) === (s.hostId === undefined)) {
    fail('', 'must name exactly one of vmId and hostId');
  } else {
    kind = s.vmId !== undefined ? 'vm' : 'host';
    const raw = kind === 'vm' ? s.vmId : s.hostId;
    if (typeof raw !== 'string' || raw === '') fail(`.${kind}Id`, `must be a non-empty string, got ${JSON.stringify(raw)}`);
    else id = raw;
  }
  const at = typeof s.at === 'string' ? parseTime(s.at, window) : NaN;
  if (!Number.isFinite(at)) {
    fail('.at', `must be an ISO-8601 time with its zone, got ${JSON.stringify(s.at)}`);
  } else {
    if (at < window.oldest) fail('.at', `is older than the retention (${new Date(window.oldest).toISOString()})`);
    if (at > window.newest) fail('.at', `is in the future (this server's clock says ${new Date(window.newest - FUTURE_TOLERANCE_MS).toISOString()})`);
  }
  const cpuMhz = figure(s, 'cpuMhz', LIMITS.cpuMhz, fail);
  const memoryMb = figure(s, 'memoryMb', LIMITS.memoryMb, fail);
  const cpuContention = s.cpuContention === undefined ? null : figure(s, 'cpuContention', 1, fail);
  if (problems.length > before) return null;
  return { kind, id, at, cpuMhz, memoryMb, cpuContention };
}

function figure(s: Record<string, unknown>, key: string, max: number, fail: (field: string, reason: string) => void): number {
  const v = s[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max) {
    fail(`.${key}`, `must be a number${max === Infinity ? ' >= 0' : ` between 0 and ${max}`}, got ${JSON.stringify(v)}`);
    return 0;
  }
  return v;
}

/** Problems in the order of the samples they are about. */
function fieldOrder(field: string): number {
  const match = /^body\.samples\[(\d+)\]/.exec(field);
  return match ? Number(match[1]) : -1;
}
