import { Inject, Injectable, Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { MIGRATION_ENGINE, type MigrationEngine } from '../engine/migration-engine.js';
import { HostEntity } from '../inventory/entities/host.entity.js';
import { VmsService } from '../inventory/vms.service.js';
import { SeriesRepository } from '../metrics/series.repository.js';
import { MigrationsRepository } from '../migrations/migrations.repository.js';
import { type CancelOutcome, MigrationsService } from '../migrations/migrations.service.js';
import { NotificationsService } from '../notifications/notifications.service.js';
import type { Snapshot } from '../planner/snapshot.js';
import { DAY_MS } from './anti-thrash.js';
import { planRestarts } from './ha-restart.js';
import { hostFailures } from './host-failure.js';
import { type Incident, type IncidentAction, IncidentsRepository } from './incidents.repository.js';
import { loopPolicy } from './loop-policy.js';

/** A down VM whose restarts failed this often is left down (an engine that cannot restart would otherwise be asked at every evaluation). */
export const MAX_RESTART_ATTEMPTS = 3;

export interface HaOutcome {
  /** The inventory changed (hosts failed or returned, VMs down or found running): read the snapshot again. */
  changed: boolean;
  restarts: number;
  /** In words: what HA did in this evaluation (empty: nothing). */
  summary: string[];
  /** Migrations of failed hosts cancelled: tell the queue and the workers once committed. */
  cancelled: CancelOutcome[];
}

/**
 * vSphere HA, in the closed loop's evaluation (inside its transaction and advisory lock): a watched
 * host the metrics source has not heard of for the policy's grace period is `failed`, its powered-on
 * VMs are down, an incident is recorded and `host.failed` is sent; with `haRestart` the down VMs are
 * restarted on healthy hosts (src/closedloop/ha-restart.ts) as migrations of kind `restart`. A failed
 * host that answers again is `connected` again (its state before the failure), as a vSphere host
 * rejoins its cluster: the VMs restarted elsewhere stay there (the engine's locate() is the truth), the
 * ones still running on it are up again, and its incident is closed.
 */
@Injectable()
export class HaService {
  private readonly logger = new Logger(HaService.name);

  constructor(
    @Inject(MIGRATION_ENGINE) private readonly engine: MigrationEngine,
    private readonly series: SeriesRepository,
    private readonly vms: VmsService,
    private readonly incidents: IncidentsRepository,
    private readonly migrationRows: MigrationsRepository,
    private readonly migrations: MigrationsService,
    private readonly notifications: NotificationsService,
  ) {}

  /** Failures and returns, from what the metrics source heard; `snapshot` is the cluster now. */
  async detect(manager: EntityManager, snapshot: Snapshot, now: Date): Promise<HaOutcome> {
    const clusterId = snapshot.cluster.id;
    const loop = loopPolicy(snapshot.policy);
    const outcome: HaOutcome = { changed: false, restarts: 0, summary: [], cancelled: [] };
    const heard = new Map((await this.series.hostsLastHeard(manager, clusterId, new Date(now.getTime() - DAY_MS))).map((h) => [h.hostId, h.lastHeardAt]));
    const open = new Map((await this.incidents.open(clusterId, manager)).map((i) => [i.hostId, i]));
    const found = hostFailures(
      snapshot.hosts.map((h) => ({
        hostId: h.id,
        state: h.state,
        lastHeardAt: heard.get(h.id)?.getTime() ?? null,
        failedSince: open.get(h.id)?.startedAt.getTime() ?? null,
      })),
      loop.failedHostGraceMs,
      now.getTime(),
    );
    const at = now.toISOString();

    for (const { hostId, lastHeardAt } of found.failed) {
      const previous = snapshot.hosts.find((h) => h.id === hostId)!.state;
      const marked = await manager.update(HostEntity, { id: hostId, state: previous }, { state: 'failed' });
      if ((marked.affected ?? 0) === 0) continue;
      for (const m of await this.migrationRows.unfinishedOfHost(manager, hostId)) {
        outcome.cancelled.push(await this.migrations.cancelWithin(manager, m, `host ${hostId} failing`));
      }
      const down = await this.vms.markDown(manager, hostId, now);
      const silentSeconds = Math.round((now.getTime() - lastHeardAt) / 1000);
      const reason = `no sample from ${hostId} or its VMs for ${silentSeconds} s (grace ${loop.failedHostGraceMs / 1000} s), while the metrics source answers for other hosts`;
      const actions: IncidentAction[] = [
        { at, action: 'host-failed', hostId, detail: `${hostId} is failed: ${reason}` },
        { at, action: 'vms-down', hostId, detail: down.length === 0 ? 'no powered-on VM was on it' : `${down.length} VM${down.length === 1 ? '' : 's'} down: ${down.join(', ')}` },
      ];
      const incidentId = await this.incidents.create(manager, { clusterId, hostId, startedAt: now, lastHeardAt: new Date(lastHeardAt), previousHostState: previous, vmIds: down, actions });
      await this.notifications.notify(
        'host.failed',
        { clusterId, hostId, incidentId, reason, lastHeardAt: new Date(lastHeardAt).toISOString(), vmsDown: down, haRestart: loop.haRestart },
        manager,
      );
      this.logger.warn({ msg: `host ${hostId} failed: ${reason}; ${down.length} VMs down`, clusterId, hostId });
      outcome.summary.push(`${hostId} failed (${reason}): ${down.length} VM${down.length === 1 ? '' : 's'} down`);
      outcome.changed = true;
    }

    for (const { hostId, lastHeardAt } of found.returned) {
      await this.closeIncident(manager, open.get(hostId)!, now, outcome, `${hostId} answered again at ${new Date(lastHeardAt).toISOString()}`);
    }
    // An operator who set a failed host's state by hand ended its incident.
    for (const incident of open.values()) {
      const state = snapshot.hosts.find((h) => h.id === incident.hostId)?.state;
      if (state !== undefined && state !== 'failed') await this.closeIncident(manager, incident, now, outcome, `${incident.hostId} was set ${state} by an operator`);
    }
    return outcome;
  }

  /**
   * The host is back (or an operator cleared it): the engine says where each of its down VMs runs.
   * One running on it (or anywhere) is up there, and its restart not started yet is cancelled; one
   * whose restart runs is left to it (it ends once, either way). The host gets its state from
   * before the failure (an operator's choice stays).
   */
  private async closeIncident(manager: EntityManager, incident: Incident, now: Date, outcome: HaOutcome, why: string): Promise<void> {
    const { hostId, clusterId } = incident;
    const at = now.toISOString();
    const stillDown = (await this.vms.down(manager, clusterId)).filter((vm) => vm.hostId === hostId);
    const actions: IncidentAction[] = [];
    const restarting = new Map((await this.migrationRows.unfinishedOfVms(manager, stillDown.map((v) => v.id))).map((m) => [m.vmId, m]));
    let runningHere = 0;
    for (const vm of stillDown) {
      const located = await this.engine.locate(vm.id);
      // A VM the engine does not know (it registers VMs as they first move) is where the inventory has it.
      const location = located.hostId === null ? { hostId, running: true } : { hostId: located.hostId, running: located.running };
      const restart = restarting.get(vm.id);
      if (restart?.state === 'running') continue; // the restart ends it, once
      if (!location.running) {
        actions.push({ at, action: 'host-returned', vmId: vm.id, detail: `${vm.id} runs nowhere the engine knows: it stays down for an operator` });
        continue;
      }
      if (restart) {
        outcome.cancelled.push(await this.migrations.cancelWithin(manager, restart, `${vm.id} found running on ${location.hostId}`));
        actions.push({ at, action: 'restart-cancelled', vmId: vm.id, hostId: location.hostId, detail: `${vm.id} runs on ${location.hostId}: its restart is cancelled` });
      }
      await this.vms.up(manager, vm.id, location.hostId);
      if (location.hostId === hostId) runningHere++;
      actions.push({ at, action: 'found-running', vmId: vm.id, hostId: location.hostId, detail: `the engine finds ${vm.id} running on ${location.hostId}` });
    }
    await manager.update(HostEntity, { id: hostId, state: 'failed' }, { state: incident.previousHostState });
    const state = (await manager.findOneByOrFail(HostEntity, { id: hostId })).state;
    const restartedElsewhere = incident.vmIds.length - stillDown.length;
    const detail = `${why}: ${state} again; ${restartedElsewhere} VM${restartedElsewhere === 1 ? '' : 's'} restarted elsewhere stay there, ${runningHere} found running on it`;
    actions.push({ at, action: 'host-returned', hostId, detail });
    await this.incidents.close(manager, incident.id, now, actions);
    this.logger.log({ msg: detail, clusterId, hostId });
    outcome.summary.push(detail);
    outcome.changed = true;
  }

  /**
   * Restarts the cluster's down VMs that have no restart in flight, on healthy hosts (the snapshot
   * is the cluster after `detect`, with moves in flight on their targets). A VM the engine finds
   * running somewhere else is up there, not restarted.
   */
  async restart(manager: EntityManager, snapshot: Snapshot, now: Date, outcome: HaOutcome): Promise<void> {
    const clusterId = snapshot.cluster.id;
    if (!loopPolicy(snapshot.policy).haRestart) return;
    const failedHosts = new Set(snapshot.hosts.filter((h) => h.state === 'failed').map((h) => h.id));
    const down = (await this.vms.down(manager, clusterId)).filter((vm) => failedHosts.has(vm.hostId));
    if (down.length === 0) return;
    const busy = new Set((await this.migrationRows.unfinishedOfVms(manager, down.map((v) => v.id))).map((m) => m.vmId));
    const open = await this.incidents.open(clusterId, manager);
    const incidentOf = new Map(open.map((i) => [i.hostId, i.id]));
    const actions = new Map<string, IncidentAction[]>(open.map((i) => [i.id, []]));
    const at = now.toISOString();
    const failures = await this.migrationRows.failedRestartsSinceDown(manager, down.map((v) => v.id));
    const candidates = new Set<string>();
    const givenUp: { vmId: string; reason: string }[] = [];
    for (const vm of down) {
      if (busy.has(vm.id)) continue;
      const failed = failures.get(vm.id);
      if (failed && failed.count >= MAX_RESTART_ATTEMPTS) {
        givenUp.push({ vmId: vm.id, reason: `${failed.count} restarts failed (last: ${failed.error ?? 'no error given'}): left down for an operator` });
        continue;
      }
      const location = await this.engine.locate(vm.id);
      if (location.running && location.hostId !== null && location.hostId !== vm.hostId) {
        await this.vms.up(manager, vm.id, location.hostId);
        actions.get(incidentOf.get(vm.hostId) ?? '')?.push({ at, action: 'found-running', vmId: vm.id, hostId: location.hostId, detail: `the engine finds ${vm.id} running on ${location.hostId}: not restarted` });
        outcome.changed = true;
        continue;
      }
      candidates.add(vm.id);
    }
    const placed = planRestarts(snapshot, candidates);
    placed.unplaced.push(...givenUp);
    if (placed.restarts.length > 0) {
      const ids = await this.migrations.createRestarts(manager, clusterId, placed.restarts);
      placed.restarts.forEach((r, i) => {
        actions.get(incidentOf.get(r.fromHostId) ?? '')?.push({
          at,
          action: 'restart-planned',
          vmId: r.vmId,
          hostId: r.toHostId,
          detail: `restart of ${r.vmId} (priority ${r.restartPriority}) on ${r.toHostId}: migration ${ids[i]}`,
        });
      });
      outcome.restarts = placed.restarts.length;
      outcome.summary.push(`HA restarts ${placed.restarts.length} VM${placed.restarts.length === 1 ? '' : 's'} of failed hosts (${placed.restarts.map((r) => `${r.vmId} on ${r.toHostId}`).join(', ')})`);
    }
    if (placed.unplaced.length > 0) outcome.summary.push(`${placed.unplaced.length} down VM${placed.unplaced.length === 1 ? '' : 's'} cannot be restarted now (${placed.unplaced.map((u) => `${u.vmId}: ${u.reason}`).join('; ')})`);
    const hostOf = new Map(down.map((vm) => [vm.id, vm.hostId]));
    for (const incident of open) {
      await this.incidents.addActions(manager, incident.id, actions.get(incident.id) ?? []);
      await this.incidents.setUnplaced(manager, incident.id, placed.unplaced.filter((u) => hostOf.get(u.vmId) === incident.hostId));
    }
  }
}
