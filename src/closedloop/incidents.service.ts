import { Injectable } from '@nestjs/common';
import type { Page } from '../common/query-params.js';
import { ClustersService } from '../inventory/clusters.service.js';
import { incidentView, type IncidentState, type IncidentView } from './closed-loop-status.js';
import { IncidentsRepository } from './incidents.repository.js';

/** A cluster's incident history: what HA did about each failed host, also after it came back. */
@Injectable()
export class IncidentsService {
  constructor(
    private readonly clusters: ClustersService,
    private readonly incidents: IncidentsRepository,
  ) {}

  async list(clusterId: string, state: IncidentState | undefined, page: { limit: number; offset: number }): Promise<Page<IncidentView>> {
    await this.clusters.require(clusterId);
    const { items, total } = await this.incidents.page(clusterId, state, page);
    return { items: items.map(incidentView), total, ...page };
  }
}
