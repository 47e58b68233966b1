import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { EvaluationService } from '../src/closedloop/evaluation.service.js';
import { host, snapshot, vm } from './support/builders.js';
import { type ServiceProcess, startService } from './support/run-node.js';
import { migrationEnded } from './support/migration-ended.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

/**
 * An HA restart is a migration like the others: a worker process that dies while the simulated
 * guest boots leaves it `running`, and the next worker reconciles it from the engine's locate()
 * (the VM already runs on the target): succeeded once, never started twice.
 */
const WORKER_READY = /migrations at once, engine simulated/;
let t: TestApp;
const workers: ServiceProcess[] = [];

beforeAll(async () => {
  // No worker in this process: the restarts wait for the worker processes the test starts.
  // At SIM_TIME_SCALE 1 the simulated boot of a 16 GB guest takes 19 s: time to kill its worker.
  t = await createTestApp({ BALLAST_ROLES: 'api,scheduler', MIGRATION_LOCK_SECONDS: '2', SIM_TIME_SCALE: '1' });
  await t.http
    .post('/api/v1/clusters/import')
    .send(snapshot({ clusterId: 'hr', hosts: [host('hr-1'), host('hr-2')], vms: [vm('hr-a', 'hr-1')], policy: { automationLevel: 'manual' } }))
    .expect(201);
  await t.http.patch('/api/v1/clusters/hr').send({ metricsSource: 'push' }).expect(200);
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')));
  await t?.close();
});

const startWorker = async () => {
  const worker = await startService({ ...t.env, BALLAST_ROLES: 'worker' }, WORKER_READY);
  workers.push(worker);
  return worker;
};

describe('a worker that dies during an HA restart', () => {
  it('leaves a restart the next worker reconciles from the engine: succeeded once, the VM on its target', async () => {
    const now = Date.now();
    await t.http
      .post('/api/v1/metrics')
      .send({ samples: [{ hostId: 'hr-1', at: new Date(now - 120_000).toISOString(), cpuMhz: 1000, memoryMb: 1000 }, { hostId: 'hr-2', at: new Date(now).toISOString(), cpuMhz: 1000, memoryMb: 1000 }] })
      .expect(202);
    const outcome = await t.app.get(EvaluationService).evaluate('hr');
    expect(outcome.restarts).toBe(1);
    const [restart] = (await t.http.get('/api/v1/migrations?clusterId=hr&kind=restart').expect(200)).body.items;
    expect(restart).toMatchObject({ vmId: 'hr-a', sourceHostId: 'hr-1', targetHostId: 'hr-2', state: expect.stringMatching(/pending|queued/) });

    const doomed = await startWorker();
    await waitFor(async () => ((await t.http.get(`/api/v1/migrations/${restart.id}`).expect(200)).body.state === 'running' ? true : null), 30_000, 'the restart to run');
    await doomed.stop('SIGKILL');
    workers.splice(workers.indexOf(doomed), 1);
    expect((await t.http.get(`/api/v1/migrations/${restart.id}`).expect(200)).body.state).toBe('running');

    await startWorker();
    const done = await migrationEnded(t.http, restart.id, 60_000, 'the restart to be reconciled');
    expect(done.state).toBe('succeeded');
    expect(done.events.some((e: { type: string }) => e.type === 'reconciled')).toBe(true);
    expect(done.events.filter((e: { toState: string }) => e.toState === 'succeeded')).toHaveLength(1);
    const vmNow = (await t.http.get('/api/v1/vms/hr-a').expect(200)).body;
    expect(vmNow.hostId).toBe('hr-2');
    expect(vmNow.downSince).toBeUndefined();
  });
});
