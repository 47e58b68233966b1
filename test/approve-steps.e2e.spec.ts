import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { testCluster } from './support/clusters.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

/** Approving the moves of a plan in several steps, each against the cluster as it is then. */
let t: TestApp;

beforeAll(async () => {
  // 32 GB VMs at 1/50 of real time: a migration lasts about half a second, long enough to approve beside it.
  t = await createTestApp({ SIM_TIME_SCALE: '0.02' });
});

afterAll(async () => {
  await t?.close();
});

interface Move {
  vmId: string;
  fromHostId: string;
  toHostId: string;
}

const approve = (planId: string, body: object = {}) => t.http.post(`/api/v1/plans/${planId}/approve`).send(body);

async function newPlan(clusterId: string): Promise<{ id: string; plan: { moves: Move[] } }> {
  await t.http.post('/api/v1/clusters/import').send(testCluster(clusterId, { vmsPerHost: [8, 0, 0, 0], hostMemoryMb: 1_048_576, vmMemoryMb: 32_768 })).expect(201);
  const plan = (await t.http.post(`/api/v1/clusters/${clusterId}/plans`).send({ threshold: 5 }).expect(201)).body;
  expect(plan.plan.moves.length).toBeGreaterThan(2);
  return plan;
}

async function allEnded(clusterId: string) {
  return waitFor(async () => {
    const items: { state: string; vmId: string; targetHostId: string }[] = (await t.http.get(`/api/v1/migrations?clusterId=${clusterId}&limit=100`).expect(200)).body.items;
    return items.every((m) => ['succeeded', 'failed', 'cancelled'].includes(m.state)) ? items : null;
  }, 60000, `the migrations of ${clusterId} to end`);
}

describe('approval in steps', () => {
  it('approves one move, then another without waiting for the first, then the rest; no move is approved twice', async () => {
    const plan = await newPlan('steps');
    const moves = plan.plan.moves;

    const first = (await approve(plan.id, { moves: [0] }).expect(202)).body;
    expect(first).toMatchObject({ plan: { status: 'proposed', approvedMoves: [0], decidedAt: null }, refused: [], alreadyApproved: [] });
    expect(first.migrationIds).toHaveLength(1);

    const twice = (await approve(plan.id, { moves: [0] }).expect(409)).body;
    expect(twice).toMatchObject({ message: `plan ${plan.id}: move 0 is approved already`, alreadyApproved: [0] });

    // Whether or not move 0's migration is over: unfinished migrations of the cluster do not block approval.
    const second = (await approve(plan.id, { moves: [1, 0] }).expect(202)).body;
    expect(second).toMatchObject({ plan: { status: 'proposed', approvedMoves: [0, 1] }, refused: [], alreadyApproved: [0] });
    expect(second.migrationIds).toHaveLength(1);

    // No body: every move not approved yet.
    const rest = (await approve(plan.id).expect(202)).body;
    expect(rest.plan).toMatchObject({ status: 'approved', approvedMoves: moves.map((_, i) => i) });
    expect(rest.plan.decidedAt).not.toBeNull();
    expect(rest.migrationIds).toHaveLength(moves.length - 2);
    await approve(plan.id).expect(409);

    const ended = await allEnded('steps');
    expect(ended).toHaveLength(moves.length);
    expect(ended.every((m) => m.state === 'succeeded')).toBe(true);
    for (const move of moves) expect((await t.http.get(`/api/v1/vms/${move.vmId}`).expect(200)).body.hostId).toBe(move.toHostId);
  });

  it('refuses the moves that became invalid since the plan was made, with the reason; the others go ahead', async () => {
    const plan = await newPlan('drift');
    const moves = plan.plan.moves;
    // Move 1's VM leaves by hand, and move 2's target goes into standby: both moves are invalid now.
    const away = ['drift-h1', 'drift-h2', 'drift-h3', 'drift-h4'].find((h) => h !== moves[1].fromHostId && h !== moves[1].toHostId && h !== moves[2].toHostId)!;
    await t.http.post(`/api/v1/vms/${moves[1].vmId}/migrate`).send({ hostId: away }).expect(202);
    const blocked = moves[2].toHostId;
    const affected = moves.map((m, i) => (m.toHostId === blocked || i === 1 ? i : -1)).filter((i) => i >= 0);
    await t.http.patch(`/api/v1/hosts/${blocked}`).send({ state: 'standby' }).expect(200);

    const approval = (await approve(plan.id).expect(202)).body;
    const refused = new Map<number, { plugin: string; reason: string }>(approval.refused.map((r: { index: number }) => [r.index, r]));
    expect([...refused.keys()].sort()).toEqual(affected);
    expect(refused.get(1)).toMatchObject({ plugin: 'in-flight', reason: expect.stringContaining(`VM ${moves[1].vmId} is migrating`) });
    expect(refused.get(2)).toEqual({ index: 2, vmId: moves[2].vmId, plugin: 'host-state', reason: `${blocked} is standby` });
    expect(approval.plan.status).toBe('proposed');
    expect(approval.plan.approvedMoves).toEqual(moves.map((_, i) => i).filter((i) => !affected.includes(i)));
    expect(approval.migrationIds).toHaveLength(moves.length - affected.length);

    // Asked again, only the invalid moves are left: 409 with each reason, nothing approved twice.
    const again = (await approve(plan.id).expect(409)).body;
    expect(again.problems.map((p: { index: number }) => p.index)).toEqual(affected);
    await allEnded('drift');

    // Once the host is back, its moves are approvable again; move 1's VM is no longer where the plan took it from.
    await t.http.patch(`/api/v1/hosts/${blocked}`).send({ state: 'connected' }).expect(200);
    const last = (await approve(plan.id).expect(202)).body;
    expect(last.refused).toEqual([{ index: 1, vmId: moves[1].vmId, plugin: 'sequence', reason: `the VM is on ${away} at this point, not ${moves[1].fromHostId}` }]);
    await t.http.post(`/api/v1/plans/${plan.id}/reject`).expect(200);
    const decided = (await t.http.get(`/api/v1/plans/${plan.id}`).expect(200)).body;
    expect(decided).toMatchObject({ status: 'approved', approvedMoves: moves.map((_, i) => i).filter((i) => i !== 1) });
    await allEnded('drift');
  });
});
