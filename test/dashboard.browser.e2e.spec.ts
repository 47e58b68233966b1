import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { EvaluationService } from '../src/closedloop/evaluation.service.js';
import { DemoService } from '../src/demo/demo.service.js';
import { type Browser, openBrowser } from './support/browser.js';
import { testCluster } from './support/clusters.js';
import { loadSample } from './support/samples.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

const ADMIN_KEY = 'bk_browser-test-admin-key-0123456789abcdef';

let t: TestApp;
let browser: Browser;
let base: string;

/** The API as the admin (the test's own calls; the page signs in through its form). */
const admin = {
  get: (path: string) => t.http.get(path).set('Authorization', `Bearer ${ADMIN_KEY}`),
  post: (path: string) => t.http.post(path).set('Authorization', `Bearer ${ADMIN_KEY}`),
};

async function signIn(key: string): Promise<void> {
  const { page } = browser;
  await page.waitForSelector('#api-key');
  await page.fill('#api-key', key);
  await page.click('.signin-card button[type=submit]');
}

async function signOut(): Promise<void> {
  await browser.page.click('[data-action="sign-out"]');
  await browser.page.waitForSelector('#api-key');
}

beforeAll(async () => {
  // Real time: an 8 GB VM over 10 Gb/s takes several seconds, long enough to watch its progress.
  t = await createTestApp({ SIM_TIME_SCALE: '1', BALLAST_ADMIN_KEY: ADMIN_KEY, BALLAST_DEMO: 'true' });
  await t.app.get(DemoService).prepare();
  await t.app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
  const lab = testCluster('lab', { vmsPerHost: [10, 2, 0], vmMemoryMb: 8192 });
  lab.policy.migrationThreshold = 5;
  await admin.post('/api/v1/clusters/import').send(lab).expect(201);
  browser = await openBrowser();
}, 120000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe('the dashboard in a real browser', () => {
  it('refuses a wrong key with a clear message, and keeps nothing of it', async () => {
    const { page } = browser;
    await page.goto(`${base}/`);
    await signIn('bk_not-a-key-of-this-ballast');
    await page.waitForSelector('.signin-card .error');
    await expect(page.locator('.signin-card .error').textContent()).resolves.toBe('This key is not accepted: this API key is not known.');
    await expect(page.evaluate('[sessionStorage.length, localStorage.length]')).resolves.toEqual([0, 0]);
    await browser.screenshot('00-wrong-key');
  });

  it('signs in with the admin key (kept in sessionStorage only) and the demo cluster loads', async () => {
    const { page } = browser;
    await signIn(ADMIN_KEY);
    await page.waitForSelector('[data-cluster-view="demo"] [data-host]');
    await expect(page.locator('#role').textContent()).resolves.toBe('admin');
    const demo = (await admin.get('/api/v1/clusters/demo/status').expect(200)).body;
    await expect(page.locator('[data-host]').count()).resolves.toBe(demo.hosts.length);
    await expect(page.evaluate('[Object.values(sessionStorage), localStorage.length, document.cookie]')).resolves.toEqual([[ADMIN_KEY], 0, '']);
    // The key outlives a reload of the tab.
    await page.reload();
    await page.waitForSelector('[data-cluster-view="demo"] [data-host]');
    await browser.screenshot('01-demo-cluster');
  });

  it('opens a cluster: its hosts with CPU and memory bars and the imbalance against the target', async () => {
    const { page } = browser;
    await page.click('[data-cluster="lab"]');
    await page.waitForSelector('[data-cluster-view="lab"]');
    await expect(page.locator('[data-host]').count()).resolves.toBe(3);
    const status = (await admin.get('/api/v1/clusters/lab/status').expect(200)).body;
    await expect(page.locator('#imbalance').textContent()).resolves.toBe(status.imbalance.toFixed(3));
    await expect(page.locator('[data-host="lab-h1"] .bar-value').first().textContent()).resolves.toBe(`${Math.round(status.hosts[0].cpuUtilization * 100)} %`);
    await browser.screenshot('02-cluster');
  });

  it('shows at a glance: imbalance against the target and open detections, bars coloured by load, the day\'s chart, why the last evaluation did not act', async () => {
    const { page } = browser;
    // Six hours of host samples, one every 30 minutes: lab-h1 busy, the others idle.
    const now = Date.now();
    const samples = [];
    for (let k = 12; k >= 1; k--) {
      const at = new Date(now - k * 30 * 60_000).toISOString();
      samples.push({ hostId: 'lab-h1', at, cpuMhz: 50_000 + k * 1000, memoryMb: 100_000 }, { hostId: 'lab-h2', at, cpuMhz: 5000, memoryMb: 20_000 }, { hostId: 'lab-h3', at, cpuMhz: 1000, memoryMb: 1000 });
    }
    await admin.post('/api/v1/metrics').send({ samples }).expect(202);
    // The closed loop sees the imbalance and waits for its hold time.
    await t.app.get(EvaluationService).evaluate('lab');
    const status = (await admin.get('/api/v1/clusters/lab/status').expect(200)).body;
    expect(status.planning.last.outcome).toBe('holding');
    const detections = status.closedLoop.detections.length;
    expect(detections).toBeGreaterThan(0);
    const series = (await admin.get(`/api/v1/clusters/lab/imbalance?from=${new Date(now - 86_400_000).toISOString()}&step=5m`).expect(200)).body;
    expect(series.points.length).toBeGreaterThanOrEqual(12);

    await page.reload();
    await page.click('[data-cluster="lab"]');
    await page.waitForSelector('[data-cluster-view="lab"] #evaluation-summary');
    const item = page.locator('[data-cluster="lab"]');
    await expect(item.locator('.cluster-figures').textContent()).resolves.toBe(`${status.imbalance.toFixed(3)} / ${status.targetImbalance}${detections} open`);
    await expect(page.locator('#evaluation-summary').textContent()).resolves.toBe(`holding ${status.planning.last.reason}`);
    // Colours by load: calm below 60 %, warm to 80 %, hot above or past the overload line.
    const colour = (u: number, line: number | null) => (line !== null && u > line) || u > 0.8 ? 'hot' : u > 0.6 ? 'warm' : 'calm';
    for (const h of status.hosts as { id: string; cpuUtilization: number; memoryUtilization: number }[]) {
      const fills = page.locator(`[data-host="${h.id}"] .bar .fill`);
      await expect(fills.nth(0).getAttribute('class')).resolves.toBe(`fill ${colour(h.cpuUtilization, status.overloadLine.cpu)}`);
      await expect(fills.nth(1).getAttribute('class')).resolves.toBe(`fill ${colour(h.memoryUtilization, status.overloadLine.memory)}`);
    }
    // The chart: a line of the imbalance and one of the hottest host's CPU, a point per step.
    await page.waitForSelector('.chart-card svg path.series.imbalance', { timeout: 20000 });
    for (const kind of ['imbalance', 'cpu']) {
      const d = await page.locator(`.chart-card svg path.series.${kind}`).getAttribute('d');
      expect(d!.split(/[ML]/).filter(Boolean)).toHaveLength(series.points.length);
    }
    await browser.screenshot('02-cluster-at-a-glance');
  });

  it('approves one move of a recommendation, rejects the others, and shows its migration move to done', async () => {
    const { page } = browser;
    const plan = (await admin.post('/api/v1/clusters/lab/plans').send({}).expect(201)).body;
    expect(plan.plan.moves.length).toBeGreaterThan(1);
    await page.waitForSelector(`[data-plan="${plan.id}"]`, { timeout: 20000 });
    await browser.screenshot('03-recommendation');
    for (let i = 1; i < plan.plan.moves.length; i++) await page.click(`[data-plan="${plan.id}"] [data-move="${i}"] input[type=checkbox]`);
    await expect(page.locator('[data-action="approve-selected"]').textContent()).resolves.toBe(`Approve 1, reject ${plan.plan.moves.length - 1}`);
    await page.click('[data-action="approve-selected"]');
    const decided = await waitFor(async () => {
      const p = (await admin.get(`/api/v1/plans/${plan.id}`).expect(200)).body;
      return p.status === 'approved' ? p : null;
    }, 20000, 'the plan to be approved');
    expect(decided.approvedMoves).toEqual([0]);
    const [migration] = (await admin.get(`/api/v1/migrations?planId=${plan.id}`).expect(200)).body.items;
    expect(migration.vmId).toBe(plan.plan.moves[0].vmId);

    // The live view (server-sent events) shows the bar filling before the migration ends.
    const row = `[data-migration="${migration.id}"]`;
    const seen = new Set<number>();
    await waitFor(async () => {
      const width = await page.locator(`${row} .progress .fill`).evaluate((el) => parseFloat((el as unknown as { style: { width: string } }).style.width)).catch(() => null);
      if (width !== null) seen.add(Math.round(width));
      return [...seen].some((w) => w > 0 && w < 100) ? true : null;
    }, 30000, 'a progress bar between 0 and 100 %');
    // Phase, throughput, and elapsed against the cost model's predicted time.
    const cells = await page.locator(`${row} td`).allTextContents().catch(() => null);
    if (cells !== null && cells.length === 6) {
      expect(cells[2]).not.toBe('');
      expect(cells[5]).toMatch(/^\S.* \/ \d[\d.]* (ms|s|min)/);
    }
    await browser.screenshot('04-migration-in-flight');
    await page.waitForSelector(`[data-history="${migration.id}"]`, { timeout: 30000 });
    await expect(page.locator(`[data-history="${migration.id}"] .state-text`).textContent()).resolves.toBe('succeeded');
    // Duration and downtime, measured and (predicted).
    const ended = (await admin.get(`/api/v1/migrations/${migration.id}`).expect(200)).body;
    const history = await page.locator(`[data-history="${migration.id}"] td`).allTextContents();
    expect(ended.result.totalTimeMs).toBeGreaterThan(0);
    expect(ended.prediction.totalTimeMs).toBeGreaterThan(0);
    expect(history[4]).toMatch(/^\d[\d.]* (ms|s|min).* \(\d[\d.]* (ms|s|min).*\)$/);
    expect(history[5]).toMatch(/^\d[\d.]* (ms|s|min).* \(\d[\d.]* (ms|s|min).*\)$/);
    await page.waitForSelector(row, { state: 'detached', timeout: 10000 });
    console.log(`progress seen in the browser (%): ${[...seen].sort((a, b) => a - b).join(', ')}`);
    await browser.screenshot('05-migration-done');
  });

  it('enters maintenance after showing the dry run', async () => {
    const { page } = browser;
    await page.click('[data-host="lab-h2"] [data-action="enter-maintenance"]');
    await page.waitForSelector('.dry-run');
    await expect(page.locator('.dry-run').textContent()).resolves.toContain('Dry run: 2 VMs would leave lab-h2');
    // The dry run changed nothing.
    expect((await admin.get('/api/v1/hosts/lab-h2').expect(200)).body.state).toBe('connected');
    await browser.screenshot('06-maintenance-dry-run');
    await page.click('#confirm-maintenance');
    await waitFor(async () => (await admin.get('/api/v1/hosts/lab-h2').expect(200)).body.state === 'maintenance', 60000, 'lab-h2 in maintenance');
    await page.waitForSelector('[data-host="lab-h2"] .badge.state-maintenance', { timeout: 20000 });
    await expect(page.locator('[data-host="lab-h2"] [data-action="exit-maintenance"]').count()).resolves.toBe(1);
    await browser.screenshot('07-maintenance');
  });

  it('shows the VMs of a host on click, with their demand and last migration', async () => {
    const { page } = browser;
    await page.click('[data-host="lab-h3"]');
    await page.waitForSelector('.host-vms [data-vm]');
    const vms = (await admin.get('/api/v1/vms?hostId=lab-h3').expect(200)).body;
    await expect(page.locator('.host-vms [data-vm]').count()).resolves.toBe(vms.total);
    await expect(page.locator('.host-vms').textContent()).resolves.toContain('succeeded');
    // Each VM's demand as the inventory has it (the smoothed figure): CPU in GHz, memory (active) in GB.
    for (const vm of vms.items as { id: string; cpuDemandMhz: number; memoryMb: number; memoryActiveMb: number }[]) {
      const cells = await page.locator(`.host-vms [data-vm="${vm.id}"] td`).allTextContents();
      expect(cells[3]).toBe(`${(vm.cpuDemandMhz / 1000).toFixed(1)} GHz`);
      expect(cells[4]).toBe(`${(vm.memoryMb / 1024).toFixed(1)} GB (${(vm.memoryActiveMb / 1024).toFixed(1)} GB)`);
      expect(cells[5]).toBe('—');
    }
    await browser.screenshot('08-host-vms');
  });

  it('migrates a VM by the dialog of its host\'s VM list; a refusal shows the reason', async () => {
    const { page } = browser;
    const vmId = await page.locator('.host-vms [data-vm]').first().getAttribute('data-vm');
    expect(vmId).not.toBeNull();
    await page.click(`.host-vms [data-vm="${vmId}"] [data-action="migrate"]`);
    await page.waitForSelector('#migrate-target');
    // lab-h2 is in maintenance: the server refuses, and the dialog says why.
    await page.selectOption('#migrate-target', 'lab-h2');
    await page.click('#confirm-migrate');
    await page.waitForSelector('#migrate-refusal');
    await expect(page.locator('#migrate-refusal').textContent()).resolves.toBe(`VM ${vmId} cannot migrate to lab-h2: lab-h2 is maintenance`);
    await browser.screenshot('09-migrate-refused');
    await page.selectOption('#migrate-target', 'lab-h1');
    await page.click('#confirm-migrate');
    await page.waitForSelector('#migrate-target', { state: 'detached', timeout: 10000 });
    const [migration] = (await admin.get(`/api/v1/migrations?vmId=${vmId}&limit=1`).expect(200)).body.items;
    expect(migration).toMatchObject({ reason: 'manual', priority: 1, sourceHostId: 'lab-h3', targetHostId: 'lab-h1' });
    await page.waitForSelector(`[data-history="${migration.id}"]`, { timeout: 60000 });
    await expect(page.locator(`[data-history="${migration.id}"] .state-text`).textContent()).resolves.toBe('succeeded');
    expect((await admin.get(`/api/v1/vms/${vmId}`).expect(200)).body.hostId).toBe('lab-h1');
    await browser.screenshot('09-migrate-done');
  });

  it('approves a recommendation in steps: one move now, the rest kept for later, then rejected', async () => {
    const { page } = browser;
    const plan = (await admin.post('/api/v1/clusters/lab/plans').send({}).expect(201)).body;
    expect(plan.plan.moves.length).toBeGreaterThan(1);
    const card = `[data-plan="${plan.id}"]`;
    await page.waitForSelector(card, { timeout: 20000 });
    for (let i = 1; i < plan.plan.moves.length; i++) await page.click(`${card} [data-move="${i}"] input[type=checkbox]`);
    await page.click(`${card} [data-action="approve-only"]`);
    await page.waitForSelector(`${card} [data-move="0"][data-approved="true"]`, { timeout: 20000 });
    const partly = (await admin.get(`/api/v1/plans/${plan.id}`).expect(200)).body;
    expect(partly).toMatchObject({ status: 'proposed', approvedMoves: [0] });
    await expect(page.locator(`${card} [data-action="reject-plan"]`).textContent()).resolves.toBe('Reject the rest');
    await browser.screenshot('09-approved-in-part');
    await page.click(`${card} [data-action="reject-plan"]`);
    await page.waitForSelector(card, { state: 'detached', timeout: 20000 });
    expect((await admin.get(`/api/v1/plans/${plan.id}`).expect(200)).body).toMatchObject({ status: 'approved', approvedMoves: [0] });
    const [migration] = (await admin.get(`/api/v1/migrations?planId=${plan.id}`).expect(200)).body.items;
    await waitFor(async () => (await admin.get(`/api/v1/migrations/${migration.id}`).expect(200)).body.state === 'succeeded', 60000, 'the approved move to run');
  });

  it('renders the 96-host sample (8,529 VMs)', async () => {
    const { page } = browser;
    const sample = loadSample('sample-96-hosts.json');
    // Two hosts out of service, to show their badges.
    sample.hosts[0].state = 'quarantine';
    sample.hosts[1].state = 'failed';
    await admin.post('/api/v1/clusters/import').send(sample).expect(201);
    await page.reload();
    await page.waitForSelector('[data-cluster="sample-96-hosts"]', { timeout: 30000 });
    const started = Date.now();
    await page.click('[data-cluster="sample-96-hosts"]');
    // A locator rather than a string for waitForFunction: the page's Content-Security-Policy refuses eval.
    const hosts = page.locator('[data-cluster-view="sample-96-hosts"] [data-host]');
    await hosts.nth(95).waitFor({ timeout: 30000 });
    const wallMs = Date.now() - started;
    const statusMs = await page.evaluate(() => {
      const entry = performance.getEntriesByType('resource').filter((e) => e.name.includes('/clusters/sample-96-hosts/status')).pop();
      return entry ? entry.duration : null;
    });
    await expect(hosts.count()).resolves.toBe(96);
    console.log(`96-host sample: hosts shown ${wallMs} ms after the click (of which the status answer ${statusMs?.toFixed(0)} ms)`);
    await expect(page.locator(`[data-host="${sample.hosts[0].id}"] .badge.state-quarantine`).textContent()).resolves.toBe('quarantine');
    await expect(page.locator(`[data-host="${sample.hosts[1].id}"] .badge.state-failed`).textContent()).resolves.toBe('failed');
    await expect(page.locator('[data-cluster-view="sample-96-hosts"] .badge[class*="state-"]').count()).resolves.toBe(2);
    await browser.screenshot('10-sample-96-hosts');
    expect(unexpectedErrors()).toEqual([]);
  });

  it('offers a viewer no action: no maintenance, no approval or rejection, no migrate', async () => {
    const { page } = browser;
    const viewer = (await admin.post('/api/v1/keys').send({ name: 'wall screen', role: 'viewer' }).expect(201)).body;
    const plan = (await admin.post('/api/v1/clusters/lab/plans').send({}).expect(201)).body;
    expect(plan.plan.moves.length).toBeGreaterThan(0);
    await signOut();
    await expect(page.evaluate('sessionStorage.length')).resolves.toBe(0);
    await signIn(viewer.key);
    await page.click('[data-cluster="lab"]');
    await page.waitForSelector(`[data-cluster-view="lab"] [data-plan="${plan.id}"]`, { timeout: 20000 });
    await expect(page.locator('#role').textContent()).resolves.toBe('viewer');
    await expect(page.evaluate('Object.values(sessionStorage)')).resolves.toEqual([viewer.key]);
    // lab-h2 is in maintenance (an operator would see Exit), the others connected (Enter).
    await page.waitForSelector('[data-host="lab-h2"] .badge.state-maintenance');
    await page.click('[data-host="lab-h3"]');
    await page.waitForSelector('.host-vms [data-vm]');
    const actions = '[data-action="enter-maintenance"], [data-action="exit-maintenance"], [data-action="approve-selected"], [data-action="reject-plan"], [data-action="migrate"], [data-plan] input[type=checkbox]';
    await expect(page.locator(actions).count()).resolves.toBe(0);
    // The trace's reasons are shown to a viewer too.
    await expect(page.locator(`[data-plan="${plan.id}"] [data-move="0"]`).textContent()).resolves.toContain(plan.plan.moves[0].reason);
    await browser.screenshot('11-viewer');
    expect(unexpectedErrors()).toEqual([]);
  });

  it('exits maintenance: the host is connected again and its badge goes', async () => {
    const { page } = browser;
    await signOut();
    await signIn(ADMIN_KEY);
    await page.click('[data-cluster="lab"]');
    await page.waitForSelector('[data-host="lab-h2"] [data-action="exit-maintenance"]');
    await page.click('[data-host="lab-h2"] [data-action="exit-maintenance"]');
    await waitFor(async () => (await admin.get('/api/v1/hosts/lab-h2').expect(200)).body.state === 'connected', 30000, 'lab-h2 connected');
    await page.waitForSelector('[data-host="lab-h2"] .badge.state-maintenance', { state: 'detached', timeout: 20000 });
    await page.waitForSelector('[data-host="lab-h2"] [data-action="enter-maintenance"]', { timeout: 20000 });
    await browser.screenshot('12-maintenance-exited');
    expect(unexpectedErrors()).toEqual([]);
  });
});

/**
 * The page's errors, but for the 401s of signing in (no key yet, the wrong key) and the 409 of the
 * migration to a host in maintenance: those are the test's.
 */
function unexpectedErrors(): string[] {
  return browser.errors.filter((e) => !/status of 40[19]/.test(e));
}
