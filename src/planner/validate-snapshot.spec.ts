import { describe, expect, it } from '@jest/globals';
import { host, snapshot, vm } from '../../test/support/builders.js';
import { SnapshotError, validateSnapshot } from './validate-snapshot.js';

/** The snapshot as plain JSON, to break on purpose. */
interface Doc {
  version: number;
  hosts: Record<string, unknown>[];
  vms: Record<string, unknown>[];
  rules: { vmIds: string[] }[];
  policy: Record<string, unknown>;
}

const good = (): Doc => JSON.parse(JSON.stringify(snapshot({ hosts: [host('h1'), host('h2')], vms: [vm('a', 'h1'), vm('b', 'h2')], rules: [{ id: 'r', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['a', 'b'] }] })));

describe('validateSnapshot', () => {
  it('accepts a FORMAT.md snapshot and drops unknown fields', () => {
    const doc = { ...good(), extra: true };
    const s = validateSnapshot(doc);
    expect(s.hosts).toHaveLength(2);
    expect('extra' in s).toBe(false);
  });

  it('takes memoryMb for a VM without memoryActiveMb, as the reference imbalance does', () => {
    const doc = good();
    delete doc.vms[0].memoryActiveMb;
    const s = validateSnapshot(doc);
    expect(s.vms[0].memoryActiveMb).toBe(s.vms[0].memoryMb);
    expect(s.vms[1].memoryActiveMb).toBe(doc.vms[1].memoryActiveMb);
  });

  it('fills the fields a policy leaves out with the defaults, and checks the ones it gives', () => {
    const doc = good();
    doc.policy = { migrationThreshold: 5 };
    expect(validateSnapshot(doc).policy).toEqual({
      automationLevel: 'fully-automated', migrationThreshold: 5, resourceWeights: { cpu: 1, memory: 1 }, maxMovesPerRun: 50, memoryOvercommitRatio: 1,
    });
    doc.policy = {};
    expect(validateSnapshot(doc).policy.migrationThreshold).toBe(3);
    doc.policy = { maxMovesPerRun: -1 };
    expect(() => validateSnapshot(doc)).toThrow(SnapshotError);
  });

  it.each([
    { name: 'a duplicate host id', edit: (d: Doc) => d.hosts.push({ ...d.hosts[0] }), field: 'snapshot.hosts[2] (h1).id', reason: 'duplicate host id "h1"' },
    { name: 'a duplicate VM id', edit: (d: Doc) => (d.vms[1].id = 'a'), field: 'snapshot.vms[1] (a).id', reason: 'duplicate VM id "a"' },
    { name: 'a VM on an unknown host', edit: (d: Doc) => (d.vms[1].hostId = 'esx-999'), field: 'snapshot.vms[1] (b).hostId', reason: 'unknown host "esx-999"' },
    { name: 'a rule naming an unknown VM', edit: (d: Doc) => (d.rules[0].vmIds[1] = 'nope'), field: 'snapshot.rules[0] (r).vmIds[1]', reason: 'unknown VM "nope"' },
    { name: 'a zero capacity', edit: (d: Doc) => (d.hosts[0].memoryCapacityMb = 0), field: 'snapshot.hosts[0] (h1).memoryCapacityMb', reason: 'must be > 0, got 0' },
    { name: 'a negative demand', edit: (d: Doc) => (d.vms[0].cpuDemandMhz = -1), field: 'snapshot.vms[0] (a).cpuDemandMhz', reason: 'must be >= 0, got -1' },
    { name: 'a bad host state', edit: (d: Doc) => (d.hosts[0].state = 'asleep'), field: 'snapshot.hosts[0] (h1).state', reason: expect.stringContaining('must be one of connected') },
    { name: 'a bad power state', edit: (d: Doc) => (d.vms[0].powerState = 'paused'), field: 'snapshot.vms[0] (a).powerState', reason: expect.stringContaining('must be one of on, off') },
    { name: 'a threshold out of range', edit: (d: Doc) => (d.policy.migrationThreshold = 6), field: 'snapshot.policy.migrationThreshold', reason: 'must be <= 5, got 6' },
    { name: 'a wrong version', edit: (d: Doc) => (d.version = 2), field: 'snapshot.version', reason: 'must be 1, got 2' },
  ])('rejects $name, naming the item', ({ edit, field, reason }) => {
    const doc = good();
    edit(doc);
    let error: unknown;
    try {
      validateSnapshot(doc);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SnapshotError);
    expect(error).toMatchObject({ field, reason });
  });
});
