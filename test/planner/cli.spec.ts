import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validatePlan } from '../support/plan-validator.js';
import { host, snapshot, vm, vmsOn } from '../support/builders.js';

/** The built `ballast` command (npm test builds first; run `npm run build` before running this file alone). */
const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
let dir: string;

function ballast(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const cluster = snapshot({
  clusterId: 'cli-test',
  hosts: [host('esx-001', { state: 'entering-maintenance' }), host('esx-002'), host('esx-003')],
  vms: [vm('vm-00001', 'esx-001', { memoryMb: 32_768 }), vm('vm-00002', 'esx-001'), ...vmsOn('esx-002', 8, 'vm-hot', { cpuDemandMhz: 7_000 })],
  rules: [{ id: 'apart', kind: 'vm-anti-affinity', mode: 'must', vmIds: ['vm-hot-1', 'vm-hot-2'] }],
});

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ballast-cli-'));
  writeFileSync(join(dir, 'cluster.json'), JSON.stringify(cluster));
  writeFileSync(join(dir, 'broken.json'), '{ "version": 1, ');
  const bad = structuredClone(cluster);
  bad.vms[3].hostId = 'esx-999';
  writeFileSync(join(dir, 'bad.json'), JSON.stringify(bad));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ballast plan', () => {
  it('--json prints the FORMAT.md plan (and the trace under "trace")', () => {
    const r = ballast('plan', '--snapshot', join(dir, 'cluster.json'), '--json', '--threshold', '5', '--max-moves', '3');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out).sort()).toEqual(['clusterId', 'imbalanceAfter', 'imbalanceBefore', 'moves', 'trace', 'unresolved', 'version']);
    const { trace, ...planDoc } = out;
    expect(validatePlan(cluster, planDoc, { maxOptionalMoves: 3 }).errors).toEqual([]);
    expect(planDoc.moves.filter((m: { reason: string }) => m.reason === 'evacuation').map((m: { vmId: string }) => m.vmId)).toEqual(['vm-00001', 'vm-00002']);
    expect(trace.threshold.threshold).toBe(5);
    expect(trace.moves).toHaveLength(planDoc.moves.length);
  });

  it('without --json prints a table of moves and the before/after figures', () => {
    const r = ballast('plan', '--snapshot', join(dir, 'cluster.json'));
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^Plan for cluster cli-test: threshold 5, \d+ moves/);
    expect(lines).toContainEqual(expect.stringMatching(/^\s*#\s+VM\s+From\s+To\s+Priority\s+Reason\s+Step\s+Memory\s+Imbalance after\s+Note$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\s*1\s+vm-00001\s+esx-001\s+esx-00[23]\s+1\s+evacuation\s+evacuation\s+32\.0 GB\s+0\.\d{4}$/));
    // The rule repair names its rule, and every row names both hosts of the move.
    expect(lines).toContainEqual(expect.stringMatching(/^\s*\d+\s+vm-hot-[12]\s+esx-002\s+esx-003\s+1\s+rule\s+rule-repair\s+\S+ GB\s+0\.\d{4}\s+repairs apart(; retargeted for balance)?$/));
    expect(r.stdout).toMatch(/Imbalance: +0\.\d{4} -> 0\.\d{4}/);
    expect(r.stdout).toMatch(/Must rules broken: 1 -> 0/);
  });

  it.each([
    { name: 'a missing file', args: ['--snapshot', 'nope.json'], line: 'ballast: cannot read snapshot file "nope.json": no such file' },
    { name: 'bad JSON', args: ['--snapshot', 'broken.json'], line: /^ballast: broken\.json: not valid JSON \(.+\)$/ },
    { name: 'an invalid snapshot', args: ['--snapshot', 'bad.json'], line: 'ballast: snapshot.vms[3] (vm-hot-2).hostId: unknown host "esx-999"' },
    { name: 'no --snapshot', args: [], line: 'ballast: plan: --snapshot FILE is required' },
    { name: 'a bad threshold', args: ['--snapshot', 'cluster.json', '--threshold', '7'], line: 'ballast: plan: --threshold must be from 1 to 5, got 7' },
    { name: 'a bad --max-moves', args: ['--snapshot', 'cluster.json', '--max-moves', 'lots'], line: 'ballast: plan: --max-moves must be a whole number from 0 to 1000000, got "lots"' },
    { name: 'an unknown flag', args: ['--snapshot', 'cluster.json', '--fast'], line: /^ballast: plan: Unknown option '--fast'/ },
  ])('exits 2 with one line on stderr for $name', ({ args, line }) => {
    const r = spawnSync(process.execPath, [CLI, 'plan', ...args], { encoding: 'utf8', cwd: dir });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    if (typeof line === 'string') expect(lines[0]).toBe(line);
    else expect(lines[0]).toMatch(line);
  });
});

describe('ballast', () => {
  it('--help lists the commands', () => {
    const r = ballast('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: ballast <command>/);
    expect(r.stdout).toMatch(/\n {2}plan +plan moves for a snapshot file/);
  });

  it('plan --help shows its options', () => {
    const r = ballast('plan', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--snapshot FILE/);
    expect(r.stdout).toMatch(/--max-moves N/);
  });

  it('an unknown command is bad usage (exit 2, one line)', () => {
    const r = ballast('frobnicate');
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^ballast: unknown command "frobnicate"/)]);
  });
});
