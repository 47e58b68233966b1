import { describe, expect, it } from '@jest/globals';
import { host, snapshot, vm, vmsOn } from '../../test/support/builders.js';
import { plan } from '../planner/plan.js';
import { parsePolicy, SnapshotError } from '../planner/validate-snapshot.js';
import { cooldownMs, heldVms, type MoveRecord } from './anti-thrash.js';
import { windowState } from './change-windows.js';
import { churnBudget } from './churn-budget.js';
import { detect, holdLeftMs } from './detection.js';
import { evaluate } from './evaluate.js';

const T0 = Date.parse('2026-11-30T10:00:00Z');
const MIN = 60_000;

/** h1 carries `hot` VMs of 8,000 MHz (76,800 MHz hosts), h2..h4 one VM each. */
function cluster(hotVms: number, policy = {}) {
  return snapshot({
    hosts: [host('h1'), host('h2'), host('h3'), host('h4')],
    vms: [...vmsOn('h1', hotVms, 'a', { cpuDemandMhz: 8_000, memoryActiveMb: 1_000 }), vm('b', 'h2'), vm('c', 'h3'), vm('d', 'h4')],
    policy: { migrationThreshold: 3, resourceWeights: { cpu: 1, memory: 0 }, ...policy },
  });
}

describe('detection with a hold time', () => {
  it('an overloaded host holds only after holdMinutes of being above the line, and clears at once', () => {
    const hot = cluster(9, { holdMinutes: 5 }); // h1 at 93.8 %, line 85 %
    const first = detect([], hot, T0);
    const overloaded = first.open.find((d) => d.kind === 'overloaded');
    expect(overloaded).toMatchObject({ subject: 'h1', resource: 'cpu', since: T0 });
    expect(first.fired).toEqual([]);
    expect(holdLeftMs(overloaded!, 5 * MIN, T0 + 2 * MIN)).toBe(3 * MIN);
    const later = detect(first.open, hot, T0 + 4 * MIN);
    expect(later.fired).toEqual([]);
    const held = detect(later.open, hot, T0 + 5 * MIN);
    expect(held.fired.map((d) => d.kind)).toContain('overloaded');
    // Held already: it does not fire twice.
    expect(detect(held.open, hot, T0 + 6 * MIN).fired).toEqual([]);
    // One evaluation below the line closes it; the next time above starts the hold again.
    const calm = detect(held.open, cluster(8), T0 + 7 * MIN);
    expect(calm.cleared.map((d) => d.subject)).toContain('h1');
    expect(detect(calm.open, hot, T0 + 8 * MIN).open.find((d) => d.kind === 'overloaded')?.since).toBe(T0 + 8 * MIN);
  });

  it('the overload line follows the threshold table (threshold 2: 90 %)', () => {
    expect(detect([], cluster(9, { migrationThreshold: 2 }), T0).open.filter((d) => d.kind === 'overloaded')).toHaveLength(1);
    expect(detect([], cluster(8, { migrationThreshold: 2 }), T0).open.filter((d) => d.kind === 'overloaded')).toHaveLength(0);
    expect(detect([], cluster(9, { migrationThreshold: 1 }), T0).open).toEqual([]);
  });

  it('an imbalanced cluster holds after the hold time, against the threshold target', () => {
    const s = cluster(5, { holdMinutes: 10 });
    const first = detect([], s, T0);
    expect(first.open.map((d) => d.kind)).toEqual(['imbalanced']);
    expect(first.open[0].line).toBe(0.08);
    expect(detect(first.open, s, T0 + 9 * MIN).fired).toEqual([]);
    expect(detect(first.open, s, T0 + 10 * MIN).fired.map((d) => d.kind)).toEqual(['imbalanced']);
  });
});

describe('evaluate', () => {
  it('plans nothing optional before the hold time, relieves the hot host after it', () => {
    const s = cluster(9);
    const first = evaluate({ snapshot: s, now: T0, previous: [], history: [] });
    expect(first.moves).toEqual([]);
    expect(first.summary).toMatch(/waiting for it to hold 5 min \(300 s left\)/);
    expect(first.decision).toBe('holding');
    const second = evaluate({ snapshot: s, now: T0 + 5 * MIN, previous: first.detections, history: [] });
    expect(second.moves.length).toBeGreaterThan(0);
    expect(second.moves.every((m) => m.fromHostId === 'h1')).toBe(true);
    expect(second.summary).toMatch(/planned \d+ moves? to relieve h1 overloaded/);
    expect(second.decision).toBe('planned');
  });

  it('balances an imbalanced cluster only while a host is above its balancing line (threshold 5: at any load)', () => {
    const once = (s: ReturnType<typeof cluster>) => evaluate({ snapshot: s, now: T0, previous: [], history: [] });
    const calm = once(cluster(5, { holdMinutes: 0 })); // h1 at 52 %: imbalanced, 18 points below the 70 % line
    expect(calm.detections.map((d) => d.kind)).toEqual(['imbalanced']);
    expect(calm.moves).toEqual([]);
    expect(calm.decision).toBe('ample-headroom');
    expect(calm.summary).toMatch(/^cluster imbalanced \(0\.\d+, target 0\.08\), but no host is above 70 % CPU or 70 % memory: every host has headroom/);
    const busy = once(cluster(7, { holdMinutes: 0 })); // h1 at 73 %: above the balancing line, below the 85 % overload line
    expect(busy.detections.map((d) => d.kind)).toEqual(['imbalanced']);
    expect(busy.moves.length).toBeGreaterThan(0);
    expect(busy.moves.every((m) => m.reason === 'balance' && m.fromHostId === 'h1')).toBe(true);
    expect(busy.decision).toBe('planned');
    expect(once(cluster(5, { holdMinutes: 0, migrationThreshold: 5 })).moves.length).toBeGreaterThan(0);
  });

  it('outside the change windows balancing waits, and says until when', () => {
    // 2026-11-30 is a Monday; the window is Saturday 01:00-05:00 in Berlin.
    const s = cluster(9, { changeWindows: { timeZone: 'Europe/Berlin', windows: [{ days: ['sat'], start: '01:00', end: '05:00' }] } });
    const first = evaluate({ snapshot: s, now: T0, previous: [], history: [] });
    const second = evaluate({ snapshot: s, now: T0 + 5 * MIN, previous: first.detections, history: [] });
    expect(second.moves).toEqual([]);
    expect(second.window.open).toBe(false);
    expect(second.summary).toContain('outside the change windows: balancing waits until 2026-12-05T00:00:00.000Z');
    expect(second.decision).toBe('outside-window');
  });

  it('evacuation runs outside the change windows and with the budget spent', () => {
    const s = snapshot({
      hosts: [host('h1', { state: 'entering-maintenance' }), host('h2')],
      vms: [vm('x', 'h1')],
      policy: { maxMigrationsPerVmDay: 0, changeWindows: { timeZone: 'UTC', windows: [{ days: ['sun'], start: '00:00', end: '00:01' }] } },
    });
    const result = evaluate({ snapshot: s, now: T0, previous: [], history: [] });
    expect(result.moves).toEqual([expect.objectContaining({ vmId: 'x', reason: 'evacuation', priority: 1 })]);
  });

  it('the churn budget stops balancing and the summary says so', () => {
    const s = cluster(9, { maxMigrationsPerVmDay: 0.25 }); // 12 VMs: 3 migrations a day
    const history: MoveRecord[] = [0, 1, 2].map((i) => ({ vmId: `b`, fromHostId: 'h2', toHostId: 'h3', at: T0 - (i + 1) * 60 * MIN, mandatory: i === 0 }));
    const first = evaluate({ snapshot: s, now: T0, previous: [], history });
    const second = evaluate({ snapshot: s, now: T0 + 5 * MIN, previous: first.detections, history });
    expect(second.budget).toMatchObject({ allowed: 3, used: 3, mandatoryUsed: 1, left: 0 });
    expect(second.moves).toEqual([]);
    expect(second.summary).toContain('the churn budget is spent: 3 of 3 migrations in the last 24 h');
    expect(second.decision).toBe('budget-spent');
  });
});

describe('anti-thrash', () => {
  const move = (vmId: string, from: string, to: string, minutesAgo: number, mandatory = false): MoveRecord => ({
    vmId, fromHostId: from, toHostId: to, at: T0 - minutesAgo * MIN, mandatory,
  });

  it('the cooldown doubles with every move of the last day, capped', () => {
    expect([1, 2, 3, 4].map((n) => cooldownMs(n, 30 * MIN) / MIN)).toEqual([30, 60, 120, 240]);
    expect(cooldownMs(20, 30 * MIN) / MIN).toBe(24 * 60);
    const once = heldVms([move('v', 'h1', 'h2', 20)], new Set(), T0, 30 * MIN);
    expect(once.get('v')?.until).toBe(T0 + 10 * MIN);
    const twice = heldVms([move('v', 'h1', 'h2', 50), move('v', 'h2', 'h3', 40)], new Set(), T0, 30 * MIN);
    expect(twice.get('v')?.until).toBe(T0 + 20 * MIN);
    // Moves older than a day do not count.
    expect(heldVms([move('v', 'h1', 'h2', 25 * 60)], new Set(), T0, 30 * MIN).size).toBe(0);
  });

  it('a VM that bounced back is held longer, and the reason says so', () => {
    const bounced = heldVms([move('v', 'h1', 'h2', 100), move('v', 'h2', 'h1', 10)], new Set(), T0, 30 * MIN);
    // Two moves and a bounce: counted as three, 120 minutes from the last.
    expect(bounced.get('v')?.until).toBe(T0 + 110 * MIN);
    expect(bounced.get('v')?.reason).toContain('came back to h1 within a day, so it is held longer');
  });

  it('a VM whose move made its target a hot spot is held longer', () => {
    const held = heldVms([move('v', 'h1', 'h2', 20)], new Set(['h2']), T0, 30 * MIN);
    expect(held.get('v')?.until).toBe(T0 + 40 * MIN);
    expect(held.get('v')?.reason).toContain('made that host a hot spot');
  });

  it('the planner leaves held VMs in place and the trace gives the reason', () => {
    const s = cluster(9);
    const all = plan(s).plan.moves.map((m) => m.vmId);
    expect(all.length).toBeGreaterThan(0);
    const held = new Map(all.map((id) => [id, `held: ${id} bounced`]));
    const result = plan(s, { held });
    expect(result.plan.moves.filter((m) => held.has(m.vmId))).toEqual([]);
    expect(JSON.stringify(result.trace.stayed)).toContain('bounced');
  });
});

describe('per-run caps', () => {
  it('maxInflowPerHost caps the optional moves into one host per plan', () => {
    const s = snapshot({
      hosts: [host('h1'), host('h2')],
      vms: vmsOn('h1', 12, 'a', { cpuDemandMhz: 5_000 }),
      policy: { migrationThreshold: 5 },
    });
    expect(plan(s).plan.moves.length).toBeGreaterThan(2);
    const capped = plan({ ...s, policy: { ...s.policy, maxInflowPerHost: 2 } });
    expect(capped.plan.moves).toHaveLength(2);
  });
});

describe('churn budget', () => {
  it('counts every migration of the sliding day against maxMigrationsPerVmDay x VMs', () => {
    const history: MoveRecord[] = [
      { vmId: 'a', fromHostId: 'h1', toHostId: 'h2', at: T0 - 23 * 60 * MIN, mandatory: false },
      { vmId: 'b', fromHostId: 'h1', toHostId: 'h2', at: T0 - 60 * MIN, mandatory: true },
      { vmId: 'c', fromHostId: 'h1', toHostId: 'h2', at: T0 - 25 * 60 * MIN, mandatory: false },
    ];
    expect(churnBudget(history, 10, 0.5, T0)).toEqual({ allowed: 5, used: 2, mandatoryUsed: 1, left: 3, perVmDay: 0.2 });
  });
});

describe('change windows', () => {
  const cw = { timeZone: 'America/New_York', windows: [{ days: ['fri' as const], start: '22:00', end: '02:00' }] };

  it('is open inside a window across midnight, in the given time zone', () => {
    // Friday 2026-12-04 23:30 in New York is Saturday 04:30 UTC.
    const inside = windowState(cw, Date.parse('2026-12-05T04:30:00Z'));
    expect(inside.open).toBe(true);
    expect(new Date(inside.current!.end).toISOString()).toBe('2026-12-05T07:00:00.000Z');
    const outside = windowState(cw, Date.parse('2026-12-05T07:30:00Z'));
    expect(outside.open).toBe(false);
    expect(new Date(outside.next!.start).toISOString()).toBe('2026-12-12T03:00:00.000Z');
  });

  it('without windows balancing may always run', () => {
    expect(windowState(undefined, T0)).toMatchObject({ open: true, next: null });
  });
});

describe('policy fields', () => {
  const base = { automationLevel: 'manual', migrationThreshold: 3, resourceWeights: { cpu: 1, memory: 1 }, maxMovesPerRun: 5, memoryOvercommitRatio: 1 };

  it('parses the closed-loop fields and rejects bad ones naming the field', () => {
    const p = parsePolicy({ ...base, holdMinutes: 10, maxMigrationsPerVmDay: 0.2, maxInflowPerHost: 3, haRestart: true, evaluationCron: '*/10 * * * *', healthActions: { moderate: 'maintenance' } });
    expect(p).toMatchObject({ holdMinutes: 10, maxMigrationsPerVmDay: 0.2, maxInflowPerHost: 3, haRestart: true, healthActions: { moderate: 'maintenance', severe: 'maintenance' } });
    const bad = (extra: object) => {
      try {
        parsePolicy({ ...base, ...extra });
      } catch (e) {
        return { field: (e as SnapshotError).field, reason: (e as SnapshotError).reason };
      }
      return null;
    };
    expect(bad({ changeWindows: { timeZone: 'Mars/Olympus', windows: [{ days: ['mon'], start: '01:00', end: '02:00' }] } })).toMatchObject({ field: 'policy.changeWindows.timeZone' });
    expect(bad({ changeWindows: { timeZone: 'UTC', windows: [{ days: ['monday'], start: '01:00', end: '02:00' }] } })).toMatchObject({ field: 'policy.changeWindows.windows[0].days[0]' });
    expect(bad({ changeWindows: { timeZone: 'UTC', windows: [{ days: ['mon'], start: '25:00', end: '02:00' }] } })).toMatchObject({ field: 'policy.changeWindows.windows[0].start' });
    expect(bad({ maxInflowPerHost: 0 })).toMatchObject({ field: 'policy.maxInflowPerHost' });
    expect(bad({ evaluationCron: 'every minute' })).toMatchObject({ field: 'policy.evaluationCron' });
    expect(bad({ healthActions: { severe: 'reboot' } })).toMatchObject({ field: 'policy.healthActions.severe' });
  });
});
