import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DemoService } from '../src/demo/demo.service.js';
import { MIGRATION_ENGINE } from '../src/engine/migration-engine.js';
import type { SimulatedEngine } from '../src/engine/simulated/simulated-engine.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/** The demo imported into an empty database, over a simulated world an earlier database left in Redis. */
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ BALLAST_DEMO: 'true' });
});

afterAll(async () => {
  await t?.close();
});

describe('the demo on an empty database', () => {
  it('starts from a fresh simulated world: a demo VM an earlier run moved can move again from where the inventory has it', async () => {
    const engine = t.app.get<SimulatedEngine>(MIGRATION_ENGINE);
    // An earlier database's run moved demo-vm-147 to demo-esx-01; its world outlived the database.
    await engine.register([{ vm: { id: 'demo-vm-147', memoryMb: 4096, macAddress: '52:54:00:00:01:47', datastores: [] }, hostId: 'demo-esx-01', running: true }]);
    expect(await t.app.get(DemoService).prepare()).toBe('demo');
    const vm = (await t.http.get('/api/v1/vms/demo-vm-147').expect(200)).body;
    expect(vm.hostId).not.toBe('demo-esx-01');
    const check = await engine.precheck({
      migrationId: '00000000-0000-4000-8000-000000000001',
      kind: 'compute',
      vm: { id: vm.id, memoryMb: vm.memoryMb, macAddress: '52:54:00:00:01:47', datastores: [] },
      source: { id: vm.hostId },
      target: { id: 'demo-esx-01' },
      downtimeLimitMs: 300,
    });
    expect(check).toEqual({ ok: true });
  });
});
