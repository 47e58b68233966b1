import { Injectable } from '@nestjs/common';
import { notFound } from '../common/http-errors.js';
import { type SeriesPoint, SamplesRepository } from './samples.repository.js';
import type { SeriesRange } from './series-query.js';
import { SeriesRepository, type SubjectKind } from './series.repository.js';
import { isStale } from './smoothing.js';

export interface SeriesView {
  vmId?: string;
  hostId?: string;
  from: string;
  to: string;
  stepSeconds: number;
  /** The newest sample the collector has seen (null: never measured). */
  lastSampleAt: string | null;
  stale: boolean;
  points: SeriesPoint[];
}

/** What the API reads of the stored samples. */
@Injectable()
export class MetricsQueries {
  constructor(
    private readonly series: SeriesRepository,
    private readonly samples: SamplesRepository,
  ) {}

  async of(kind: SubjectKind, id: string, range: SeriesRange, now = Date.now()): Promise<SeriesView> {
    const found = await this.series.lookup(kind, [id]);
    if (found.unknown.length > 0) throw notFound(kind === 'vm' ? 'VM' : 'host', id);
    const subject = await this.series.find(kind, id);
    const points = subject ? ((await this.samples.series([subject.seriesId], range.from, range.to, range.stepSeconds)).get(subject.seriesId) ?? []) : [];
    const lastSampleAt = subject?.lastSampleAt ?? null;
    return {
      [kind === 'vm' ? 'vmId' : 'hostId']: id,
      from: new Date(range.from).toISOString(),
      to: new Date(range.to).toISOString(),
      stepSeconds: range.stepSeconds,
      lastSampleAt: lastSampleAt?.toISOString() ?? null,
      stale: isStale(lastSampleAt?.getTime() ?? null, now),
      points,
    };
  }
}
