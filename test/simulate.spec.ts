import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The built `ballast` command (npm test builds first; run `npm run build` before running this file alone). */
const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const FIXTURES = join(process.cwd(), 'test', 'fixtures', 'scenarios');
const TRACE = ['--vms', join(FIXTURES, 'trace-demo-vms.csv'), '--usage', join(FIXTURES, 'trace-demo-usage.csv')];
const HOSTS = ['--hosts', '5', '--host-cpu-mhz', '40000', '--host-memory-mb', '196608'];
let dir: string;

function ballast(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ballast-simulate-'));
  writeFileSync(join(dir, 'vms.csv'), 'vm_id,cpu_count,cpu_capacity_mhz,mem_capacity_mb\nx,1,2600,4096\n');
  writeFileSync(join(dir, 'usage.csv'), 'timestamp,vm_id,duration_s,cpu_usage_mhz\n2026-11-24T00:00:00.000Z,y,300,10\n');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ballast simulate on the demo trace', () => {
  it('--json compares Ballast with no balancing from the same start', () => {
    const r = ballast('simulate', ...TRACE, ...HOSTS, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    const keys = ['avgImbalance', 'gbMoved', 'migrations', 'migrationsPerVmDay', 'overloadedHostHours', 'peakHostCpu'];
    expect(Object.keys(out).sort()).toEqual(['ballast', 'noBalancing']);
    expect(Object.keys(out.ballast).sort()).toEqual(keys);
    expect(out.noBalancing).toMatchObject({ migrations: 0, gbMoved: 0, migrationsPerVmDay: 0 });
    // The round-robin start overloads hosts; Ballast relieves them with few moves.
    expect(out.noBalancing.overloadedHostHours).toBeGreaterThan(5);
    expect(out.ballast.overloadedHostHours).toBeLessThan(out.noBalancing.overloadedHostHours * 0.5);
    expect(out.ballast.avgImbalance).toBeLessThan(out.noBalancing.avgImbalance);
    expect(out.ballast.peakHostCpu).toBeLessThanOrEqual(out.noBalancing.peakHostCpu);
    expect(out.ballast.migrations).toBeGreaterThan(0);
    // The default churn budget: 0.5 migrations per VM per day.
    expect(out.ballast.migrationsPerVmDay).toBeLessThanOrEqual(0.5);
    expect(out.ballast.gbMoved).toBeGreaterThan(0);
    // Deterministic: the same trace gives the same figures.
    expect(JSON.parse(ballast('simulate', ...TRACE, ...HOSTS, '--json').stdout)).toEqual(out);
  });

  it('prints a table without --json and draws an SVG with --plot', () => {
    const svg = join(dir, 'plot.svg');
    const r = ballast('simulate', ...TRACE, ...HOSTS, '--plot', svg);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/overloaded host-hours \(> 80 % CPU\)\s+[\d.]+\s+[\d.]+/);
    expect(r.stdout).toMatch(/migrations per VM per day/);
    const drawing = readFileSync(svg, 'utf8');
    expect(drawing.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(drawing.match(/<polyline /g)).toHaveLength(4);
    expect(drawing).toContain('overloaded above 80 %');
  });

  it('refuses bad input with one line and a non-zero exit', () => {
    const missing = ballast('simulate', ...TRACE, '--hosts', '5');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('ballast: simulate: --host-cpu-mhz is required\n');
    const unknownVm = ballast('simulate', '--vms', join(dir, 'vms.csv'), '--usage', join(dir, 'usage.csv'), ...HOSTS);
    expect(unknownVm.code).toBe(2);
    expect(unknownVm.stderr).toMatch(/^ballast: simulate: .*usage\.csv line 2: VM "y" is not in vms\.csv\n$/);
    const tooSmall = ballast('simulate', ...TRACE, '--hosts', '5', '--host-cpu-mhz', '40000', '--host-memory-mb', '1024');
    expect(tooSmall.code).toBe(2);
    expect(tooSmall.stderr).toMatch(/memory does not fit/);
    const noFile = ballast('simulate', '--vms', join(dir, 'nope.csv'), '--usage', join(dir, 'usage.csv'), ...HOSTS);
    expect(noFile.stderr).toMatch(/cannot read ".*nope\.csv": no such file/);
  });
});
