import type { Snapshot } from '../planner/snapshot.js';
import { windowState } from './change-windows.js';
import { detectionView, windowView, type ChangeWindowView, type DetectionView } from './evaluation-view.js';
import type { EvaluationRecord } from './evaluations.repository.js';
import type { Incident } from './incidents.repository.js';
import { loopPolicy } from './loop-policy.js';

export interface ClosedLoopStatus {
  detections: DetectionView[];
  quarantinedHosts: string[];
  failedHosts: string[];
  /** Failed hosts not answering again yet, with what HA did (src/closedloop/ha.service.ts). */
  incidents: IncidentView[];
  /** VMs the growing cooldown holds back from balancing, with why and until when. */
  heldVms: { vmId: string; until: string; reason: string }[];
  churnBudget: { allowedPerDay: number; usedLastDay: number; mandatoryLastDay: number; left: number; maxMigrationsPerVmDay: number } | null;
  changeWindow: ChangeWindowView;
  lastEvaluation: { at: string; summary: string; movesStarted: number; recommended: number; planId: string | null } | null;
  nextEvaluationAt: string | null;
}

/** Open: the host has not answered again (nor an operator ended it); closed: it has. */
export const INCIDENT_STATES = ['open', 'closed'] as const;
export type IncidentState = (typeof INCIDENT_STATES)[number];

export interface IncidentView {
  id: string;
  kind: Incident['kind'];
  hostId: string;
  startedAt: string;
  /** null while the incident is open. */
  endedAt: string | null;
  lastHeardAt: string | null;
  vmIds: string[];
  stillDown: string[];
  unplaced: Incident['unplaced'];
  actions: Incident['actions'];
}

export function incidentView(i: Incident): IncidentView {
  const iso = (d: Date | null) => (d === null ? null : new Date(d).toISOString());
  return {
    id: i.id,
    kind: i.kind,
    hostId: i.hostId,
    startedAt: iso(i.startedAt) as string,
    endedAt: iso(i.endedAt),
    lastHeardAt: iso(i.lastHeardAt),
    vmIds: i.vmIds,
    stillDown: i.stillDown,
    unplaced: i.unplaced,
    actions: i.actions,
  };
}

/** The closed loop's part of a cluster's status, from its stored state and the snapshot now. */
export function closedLoopStatus(
  snapshot: Pick<Snapshot, 'hosts' | 'policy'>,
  record: EvaluationRecord | null,
  now: number,
  openIncidents: readonly Incident[] = [],
): ClosedLoopStatus {
  const loop = loopPolicy(snapshot.policy);
  const budget = record?.budget ?? null;
  const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());
  return {
    detections: (record?.detections ?? []).map((d) => detectionView(d, loop.holdMs, now, record?.outcome === 'ample-headroom')),
    quarantinedHosts: snapshot.hosts.filter((h) => h.state === 'quarantine').map((h) => h.id),
    failedHosts: snapshot.hosts.filter((h) => h.state === 'failed').map((h) => h.id),
    incidents: openIncidents.map(incidentView),
    heldVms: (record?.held ?? []).filter((h) => h.until > now).map((h) => ({ vmId: h.vmId, until: new Date(h.until).toISOString(), reason: h.reason })),
    churnBudget:
      budget === null
        ? null
        : { allowedPerDay: budget.allowed, usedLastDay: budget.used, mandatoryLastDay: budget.mandatoryUsed, left: budget.left, maxMigrationsPerVmDay: loop.maxMigrationsPerVmDay },
    changeWindow: windowView(windowState(snapshot.policy.changeWindows, now)),
    lastEvaluation:
      record?.evaluatedAt
        ? { at: iso(record.evaluatedAt) as string, summary: record.summary ?? '', movesStarted: record.movesStarted, recommended: record.recommended, planId: record.planId }
        : null,
    nextEvaluationAt: iso(record?.nextAt ?? null),
  };
}
