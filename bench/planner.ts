/**
 * `npm run bench:planner`: Ballast's planner (threshold 5, the policy's maxMovesPerRun) against the
 * "greedy best single move" reference (bench/greedy.ts) on the sample scenarios and generated
 * clusters up to 500 hosts / 50,000 VMs. Every plan is checked by the independent validator of the
 * tests. Prints a side-by-side table and one verdict line per target; times are medians.
 *
 * Then fresh clusters, several seeds per size (shapes of the generated scenarios above, seeds that
 * are not the benchmark's): Ballast's imbalance at the memory greedy moved (the longest prefix of
 * Ballast's plan, every prefix being valid, that moves no more memory than greedy did) against
 * greedy's, and threshold 3 beside threshold 5.
 *
 * Options: --quick (skip the 500-host cases), --greedy-budget-ms N (default 600000: the greedy
 * reference's balancing stops there on the 500-host case and is marked "capped"; it needs about
 * three minutes on this machine), --seeds N (seeds per size, default 3), --seeds-only (only the
 * table of fresh clusters).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import v8 from 'node:v8';
import { applyMoves, plan, referenceImbalance, validateSnapshot, type Plan, type Rule, type Snapshot } from '../src/planner/index.js';
import { generateScenario, type ScenarioOptions } from '../src/scenarios/generate.js';
import { validatePlan, type ValidationReport } from '../test/support/plan-validator.js';
import { greedyPlan } from './greedy.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository's copies of shared/scenarios (the benchmark runs from dist/bench). */
const SAMPLES = join(here, '..', '..', 'test', 'fixtures', 'scenarios');
const TAKEN_AT = '2026-11-25T12:00:00Z';

interface Scenario {
  name: string;
  load: () => Snapshot;
  /** Greedy runs with a wall-time budget here (it needs minutes on 50,000 VMs). */
  greedyBudget?: boolean;
  big?: boolean;
}

const generated = (name: string, o: Omit<ScenarioOptions, 'clusterId' | 'takenAt'>, extra: Partial<Scenario> = {}): Scenario => ({
  name,
  load: () => generateScenario({ clusterId: name, takenAt: TAKEN_AT, ...o }),
  ...extra,
});

const LARGE_500: Omit<ScenarioOptions, 'clusterId' | 'takenAt'> = {
  seed: 500,
  hosts: 500,
  vms: 50_000,
  compatibilityGroups: 2,
  imbalance: 0.4,
  enteringMaintenance: 2,
  rules: { antiAffinity: 120, affinity: 40, vmHostAffinity: 10, vmHostAntiAffinity: 10, should: 20 },
  poweredOff: 2500,
  disabled: 300,
  manual: 200,
  recentlyMigrated: 500,
  policy: { maxMovesPerRun: 200 },
};

type Shape = Omit<ScenarioOptions, 'clusterId' | 'takenAt' | 'seed'>;
/** The benchmark's generated scenarios' shapes, also used for the fresh clusters of the same sizes. */
const SHAPE_16H: Shape = { hosts: 16, vms: 400, imbalance: 1, rules: { antiAffinity: 4, affinity: 2, should: 2 }, poweredOff: 10, disabled: 3 };
const SHAPE_96H: Shape = {
  hosts: 96,
  vms: 10_000,
  compatibilityGroups: 2,
  imbalance: 0.3,
  enteringMaintenance: 1,
  rules: { antiAffinity: 40, affinity: 15, vmHostAffinity: 4, vmHostAntiAffinity: 4, should: 8 },
  poweredOff: 500,
  disabled: 80,
  manual: 50,
  recentlyMigrated: 100,
  policy: { maxMovesPerRun: 100 },
};

/** Shapes of the fresh clusters per size (as the benchmark's generated scenarios), seeded by the caller. */
const SIZES: { name: string; big?: boolean; options: Shape }[] = [
  { name: '16h/400vm', options: SHAPE_16H },
  { name: '96h/10k', options: SHAPE_96H },
  { name: '500h/50k', big: true, options: (({ seed: _seed, ...rest }) => rest)(LARGE_500) },
];
/** Seeds of the fresh clusters: none of them is a seed of the scenarios above. */
const FRESH_SEEDS = [1001, 2002, 3003, 4004, 5005];

const SCENARIOS: Scenario[] = [
  ...['sample-small', 'sample-evacuate', 'sample-rules', 'sample-96-hosts'].map((name) => ({
    name,
    load: () => validateSnapshot(JSON.parse(readFileSync(join(SAMPLES, `${name}.json`), 'utf8'))),
  })),
  generated('gen-16h-400vm', { seed: 16, ...SHAPE_16H }),
  generated('gen-24h-1500vm-evac', {
    seed: 24,
    hosts: 24,
    vms: 1500,
    compatibilityGroups: 2,
    imbalance: 0.6,
    enteringMaintenance: 2,
    rules: { antiAffinity: 10, affinity: 4, vmHostAffinity: 3, vmHostAntiAffinity: 2, should: 4 },
    poweredOff: 40,
    disabled: 10,
    manual: 10,
    recentlyMigrated: 30,
    policy: { maxMovesPerRun: 60, maxCpuUtilization: 0.9 },
  }),
  generated('gen-96h-10k', { seed: 96, ...SHAPE_96H }),
  generated('gen-500h-50k', LARGE_500, { big: true, greedyBudget: true }),
];

interface Row {
  planner: string;
  moves: number;
  gbMoved: number;
  imbalanceBefore: number;
  imbalanceAfter: number;
  mustBefore: number;
  mustAfter: number;
  leftOnEntering: number;
  ms: number;
  valid: boolean;
  errors: string[];
  note: string;
  report: ValidationReport;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Median wall time of `runs` calls, after `warmup` untimed ones (the JIT's first compilations). */
function timed<T>(runs: number, f: () => T, warmup = 0): { result: T; ms: number } {
  for (let i = 0; i < warmup; i++) f();
  const times: number[] = [];
  let result: T | undefined;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    result = f();
    times.push(performance.now() - t0);
  }
  return { result: result as T, ms: median(times) };
}

function row(planner: string, snapshot: Snapshot, p: Plan, ms: number, note: string): Row {
  const report = validatePlan(snapshot, p);
  return {
    planner,
    moves: p.moves.length,
    gbMoved: report.memoryMovedMb / 1024,
    imbalanceBefore: report.imbalanceBefore,
    imbalanceAfter: report.imbalanceAfter,
    mustBefore: report.mustBrokenBefore.length,
    mustAfter: report.mustBrokenAfter.length,
    leftOnEntering: report.leftOnEnteringHosts.length,
    ms,
    valid: report.valid,
    errors: report.errors,
    note,
    report,
  };
}

/** A must rule left broken that no placement could repair (group, networks, datastores, hosts, pinned VMs). */
function staticallyUnrepairable(s: Snapshot, rule: Rule): boolean {
  const hosts = new Map(s.hosts.map((h) => [h.id, h]));
  const vms = rule.vmIds.map((id) => s.vms.find((v) => v.id === id) as Snapshot['vms'][number]);
  const possible = vms.map((vm) => {
    if (vm.automationLevel === 'disabled') return [vm.hostId];
    const group = vm.compatibilityGroup ?? hosts.get(vm.hostId)?.compatibilityGroup;
    return s.hosts
      .filter(
        (h) =>
          h.state === 'connected' &&
          h.compatibilityGroup === group &&
          vm.networks.every((n) => h.networks.includes(n)) &&
          vm.datastores.every((d) => h.datastores.includes(d)),
      )
      .map((h) => h.id);
  });
  switch (rule.kind) {
    case 'vm-affinity':
      return !possible[0].some((h) => possible.every((list) => list.includes(h)));
    case 'vm-host-affinity':
      return possible.some((list) => !list.some((h) => rule.hostIds?.includes(h)));
    case 'vm-host-anti-affinity':
      return possible.some((list) => !list.some((h) => !rule.hostIds?.includes(h)));
    case 'vm-anti-affinity':
      return new Set(possible.flat()).size < vms.length;
  }
}

function fmt(x: number, digits: number): string {
  return x.toFixed(digits);
}

interface HeapFigures {
  ms: number;
  usedBeforeMb: number;
  totalAfterMb: number;
  usedAfterMb: number;
}

function heapProbe(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  const snapshot = generateScenario({ clusterId: 'gen-500h-50k', takenAt: TAKEN_AT, ...LARGE_500 });
  gc?.();
  const before = v8.getHeapStatistics();
  const t0 = performance.now();
  const result = plan(snapshot, { threshold: 5 });
  const ms = performance.now() - t0;
  const after = v8.getHeapStatistics();
  process.stdout.write(
    JSON.stringify({
      ms,
      moves: result.plan.moves.length,
      usedBeforeMb: before.used_heap_size / 2 ** 20,
      totalAfterMb: after.total_heap_size / 2 ** 20,
      usedAfterMb: after.used_heap_size / 2 ** 20,
      limitMb: after.heap_size_limit / 2 ** 20,
    }),
  );
}

function main(): void {
  const args = process.argv.slice(2);
  if (args.includes('--heap-probe')) return heapProbe();
  const quick = args.includes('--quick');
  const budgetArg = args.indexOf('--greedy-budget-ms');
  const greedyBudgetMs = budgetArg >= 0 ? Number(args[budgetArg + 1]) : 600_000;
  const seedsArg = args.indexOf('--seeds');
  const seedsPerSize = seedsArg >= 0 ? Number(args[seedsArg + 1]) : 3;
  if (!Number.isInteger(seedsPerSize) || seedsPerSize < 1 || seedsPerSize > FRESH_SEEDS.length) {
    console.error(`--seeds: a whole number from 1 to ${FRESH_SEEDS.length}`);
    process.exit(2);
  }
  if (args.includes('--seeds-only')) {
    freshClusters(quick, seedsPerSize, greedyBudgetMs);
    return;
  }

  const results: {
    scenario: string;
    hosts: number;
    vms: number;
    ballast: Row;
    atDefault: Row & { optional: number };
    greedy: Row | null;
    unrepairableLeft: number;
    repairableLeft: string[];
    movableLeftOnEntering: number;
  }[] = [];
  for (const sc of SCENARIOS) {
    if (quick && sc.big) continue;
    const snapshot = sc.load();
    const runs = sc.big ? 5 : 7;
    const b = timed(runs, () => plan(snapshot, { threshold: 5 }), 2);
    const t3 = timed(1, () => plan(snapshot, { threshold: 3 }));
    const atDefault = { ...row('ballast t3', snapshot, t3.result.plan, t3.ms, t3.result.trace.summary.balanceStop), optional: t3.result.trace.summary.optionalMoves };
    const ballast = row('ballast', snapshot, b.result.plan, b.ms, b.result.trace.summary.balanceStop);
    const greedyRuns = snapshot.vms.length > 2000 ? 1 : 3;
    const g = timed(greedyRuns, () => greedyPlan(snapshot, sc.greedyBudget ? { timeBudgetMs: greedyBudgetMs } : {}));
    const greedy = row('greedy', snapshot, g.result.plan, g.ms, g.result.capped ? `CAPPED after ${g.result.balancingMoves} balancing moves (time budget)` : greedyRuns === 1 ? '1 run' : '');
    const left = b.result.plan.unresolved.flatMap((u) => (u.ruleId !== undefined ? [u.ruleId] : []));
    const leftRules = snapshot.rules.filter((r) => r.mode === 'must' && ballast.report.mustBrokenAfter.includes(r.id) && left.includes(r.id));
    const repairableLeft = leftRules.filter((r) => !staticallyUnrepairable(snapshot, r)).map((r) => r.id);
    const disabled = new Set(snapshot.vms.filter((v) => v.automationLevel === 'disabled').map((v) => v.id));
    const movableLeftOnEntering = ballast.report.leftOnEnteringHosts.filter((id) => !disabled.has(id)).length;
    results.push({
      movableLeftOnEntering,
      scenario: sc.name,
      hosts: snapshot.hosts.length,
      vms: snapshot.vms.length,
      ballast,
      atDefault,
      greedy,
      unrepairableLeft: leftRules.length - repairableLeft.length,
      repairableLeft,
    });
    process.stderr.write(`  ${sc.name} done\n`);
  }

  const header = ['scenario', 'planner', 'moves', 'GB moved', 'imbalance before -> after', 'must broken before -> after', 'left on EM hosts', 'time ms (median)', 'valid', 'note'];
  const lines: string[][] = [];
  for (const r of results) {
    for (const x of [r.ballast, r.greedy]) {
      if (x === null) continue;
      lines.push([
        x.planner === 'ballast' ? `${r.scenario} (${r.hosts}h/${r.vms}vm)` : '',
        x.planner,
        String(x.moves),
        fmt(x.gbMoved, 1),
        `${fmt(x.imbalanceBefore, 4)} -> ${fmt(x.imbalanceAfter, 4)}`,
        `${x.mustBefore} -> ${x.mustAfter}`,
        String(x.leftOnEntering),
        fmt(x.ms, x.ms < 10 ? 2 : 1),
        x.valid ? 'yes' : 'NO',
        x.note,
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const print = (cells: string[]) => console.log(cells.map((c, i) => c.padEnd(widths[i])).join(' | ').trimEnd());
  console.log('Ballast planner (threshold 5, policy maxMovesPerRun) vs greedy best single move. GB moved: configured memory of powered-on VMs moved.');
  console.log(
    'Planning time: plan() on a validated snapshot. Ballast: median of 7 runs (5 at 500 hosts) after 2 untimed warm-up runs; greedy: median of 3, 1 run above 2,000 VMs.',
  );
  print(header);
  print(widths.map((w) => '-'.repeat(w)));
  for (const l of lines) print(l);
  for (const r of results) {
    for (const x of [r.ballast, r.greedy]) {
      if (x !== null && !x.valid) console.log(`  ${r.scenario} ${x.planner} INVALID: ${x.errors.slice(0, 5).join('; ')}`);
    }
  }

  // The default threshold (3, target 0.08) beside threshold 5, per size.
  console.log('\nThreshold 3 (the default, target imbalance 0.08) beside threshold 5, Ballast, one run each:');
  const t3Header = ['scenario', 'imbalance before', 't3 after', 't3 moves (capped)', 't3 GB', 't3 stop', 't5 after', 't5 moves', 't5 GB'];
  const t3Lines = results.map((r) => [
    `${r.scenario} (${r.hosts}h)`,
    fmt(r.atDefault.imbalanceBefore, 4),
    fmt(r.atDefault.imbalanceAfter, 4),
    `${r.atDefault.moves} (${r.atDefault.optional})`,
    fmt(r.atDefault.gbMoved, 1),
    r.atDefault.note,
    fmt(r.ballast.imbalanceAfter, 4),
    String(r.ballast.moves),
    fmt(r.ballast.gbMoved, 1),
  ]);
  const t3Widths = t3Header.map((h, i) => Math.max(h.length, ...t3Lines.map((l) => l[i].length)));
  for (const cells of [t3Header, t3Widths.map((w) => '-'.repeat(w)), ...t3Lines]) console.log(cells.map((c, i) => c.padEnd(t3Widths[i])).join(' | ').trimEnd());

  // Heap of the 500-host case: fresh processes with a 500 MB old-space limit (the target), and a
  // 128 MB one (the plan must still finish: the peak is below it).
  let heap: HeapFigures | null = null;
  let fitsIn128 = false;
  if (!quick) {
    const probe = (limitMb: number) =>
      spawnSync(process.execPath, ['--expose-gc', `--max-old-space-size=${limitMb}`, fileURLToPath(import.meta.url), '--heap-probe'], { encoding: 'utf8' });
    const child = probe(500);
    if (child.status === 0) {
      const h = JSON.parse(child.stdout) as HeapFigures;
      heap = h;
      fitsIn128 = probe(128).status === 0;
      console.log(
        `\nHeap, 500 hosts / 50,000 VMs (fresh process, --max-old-space-size=500): snapshot ${fmt(h.usedBeforeMb, 1)} MB used before planning; ` +
          `after one plan: ${fmt(h.usedAfterMb, 1)} MB used, ${fmt(h.totalAfterMb, 1)} MB heap size (V8's heap only grows between major GCs, so this is the high-water mark of that call). ` +
          `The same plan ${fitsIn128 ? 'also completes' : 'does NOT complete'} with --max-old-space-size=128. (Cold single run: ${fmt(h.ms, 0)} ms.)`,
      );
    } else {
      console.log(`\nHeap probe FAILED (exit ${child.status}): ${child.stderr.split('\n').slice(-5).join(' ')}`);
    }
  }

  // Verdicts.
  const verdict = (ok: boolean, text: string) => console.log(`${ok ? 'PASS' : 'FAIL'}  ${text}`);
  console.log('');
  verdict(
    results.every((r) => r.atDefault.valid && (r.atDefault.imbalanceBefore <= 0.08 || r.atDefault.imbalanceAfter <= 0.08 || r.atDefault.note.startsWith('maxMovesPerRun'))),
    'threshold 3: every plan valid, and every cluster above 0.08 ends at or below it or at the move cap',
  );
  verdict(
    results.every((r) => r.ballast.valid),
    `every Ballast plan valid (independent validator)${results.every((r) => r.greedy === null || r.greedy.valid) ? '; every greedy plan valid too' : ''}`,
  );
  const repairableLeft = results.flatMap((r) => r.repairableLeft.map((id) => `${r.scenario}:${id}`));
  const unrepairable = results.reduce((s, r) => s + r.unrepairableLeft, 0);
  verdict(
    repairableLeft.length === 0,
    `every repairable broken must rule repaired (${unrepairable} left broken are statically unrepairable and reported in unresolved${repairableLeft.length ? `; left: ${repairableLeft.join(', ')}` : ''})`,
  );
  // A VM with automation level disabled never moves (FORMAT rule 5): it stays, listed in unresolved.
  const leftMovable = results.reduce((n, r) => n + r.movableLeftOnEntering, 0);
  const leftDisabled = results.reduce((n, r) => n + r.ballast.leftOnEntering - r.movableLeftOnEntering, 0);
  verdict(leftMovable === 0, `every VM off entering-maintenance hosts (${leftMovable} movable VMs left; ${leftDisabled} with automation level disabled stay, reported in unresolved)`);
  for (const r of results) {
    if (r.greedy === null) continue;
    const capped = r.greedy.note.startsWith('CAPPED');
    const ok = r.ballast.imbalanceAfter <= r.greedy.imbalanceAfter + 1e-12 && r.ballast.gbMoved < r.greedy.gbMoved;
    verdict(
      ok,
      `${r.scenario}: imbalance after ${fmt(r.ballast.imbalanceAfter, 5)} <= greedy ${fmt(r.greedy.imbalanceAfter, 5)} with less memory moved (${fmt(r.ballast.gbMoved, 1)} GB vs ${fmt(r.greedy.gbMoved, 1)} GB)${capped ? ' [greedy capped by its time budget]' : ''}`,
    );
  }
  freshClusters(quick, seedsPerSize, greedyBudgetMs);
  const r96 = results.find((r) => r.scenario === 'gen-96h-10k');
  if (r96) verdict(r96.ballast.ms <= 100, `96 hosts / 10,000 VMs planned in ${fmt(r96.ballast.ms, 1)} ms median (target <= 100 ms)`);
  const r500 = results.find((r) => r.scenario === 'gen-500h-50k');
  if (r500) {
    verdict(r500.ballast.ms <= 1000, `500 hosts / 50,000 VMs planned in ${fmt(r500.ballast.ms, 1)} ms median (target <= 1 s)`);
    verdict(
      heap !== null && heap.totalAfterMb < 500,
      `500 hosts / 50,000 VMs heap ${heap === null ? 'unknown' : `${fmt(heap.totalAfterMb, 1)} MB high-water, completes under a ${fitsIn128 ? 128 : 500} MB old-space limit`} (target < 500 MB)`,
    );
  }
}

/** Configured memory (MB) of the powered-on VMs a list of moves moves, as the validator counts it. */
function memoryMovedMb(snapshot: Snapshot, moves: Plan['moves']): number[] {
  const vms = new Map(snapshot.vms.map((v) => [v.id, v]));
  const cumulative: number[] = [];
  let total = 0;
  for (const m of moves) {
    const vm = vms.get(m.vmId);
    if (vm?.powerState === 'on') total += vm.memoryMb;
    cumulative.push(total);
  }
  return cumulative;
}

/**
 * Ballast's imbalance at the memory greedy moved: the longest prefix of Ballast's plan (every
 * prefix is a valid state) that moves no more memory than greedy's whole plan.
 */
function imbalanceAtMemory(snapshot: Snapshot, moves: Plan['moves'], budgetMb: number): { imbalance: number; moves: number; mb: number } {
  const cumulative = memoryMovedMb(snapshot, moves);
  let k = 0;
  while (k < moves.length && cumulative[k] <= budgetMb + 1e-9) k++;
  return { imbalance: referenceImbalance(applyMoves(snapshot, moves.slice(0, k))), moves: k, mb: k === 0 ? 0 : cumulative[k - 1] };
}

/** Several fresh seeds per size: Ballast (threshold 5) against greedy at equal memory, and threshold 3 beside it. */
function freshClusters(quick: boolean, seedsPerSize: number, greedyBudgetMs: number): void {
  const header = [
    'size',
    'seed',
    'before',
    'greedy after',
    'greedy moves',
    'greedy GB',
    'ballast at greedy GB',
    'ballast moves (GB) there',
    'ballast after',
    'ballast moves',
    'ballast GB',
    'verdict',
    't3 after',
    't3 moves',
    't3 stop',
  ];
  const lines: string[][] = [];
  const verdicts: { size: string; seed: number; ok: boolean; margin: number; capped: boolean }[] = [];
  for (const size of SIZES) {
    if (quick && size.big) continue;
    for (const seed of FRESH_SEEDS.slice(0, seedsPerSize)) {
      const snapshot = generateScenario({ clusterId: `fresh-${size.name}-${seed}`, takenAt: TAKEN_AT, seed, ...size.options });
      const ballast = plan(snapshot, { threshold: 5 });
      const atDefault = plan(snapshot, { threshold: 3 });
      const greedy = greedyPlan(snapshot, size.big ? { timeBudgetMs: greedyBudgetMs } : {});
      const reports = [validatePlan(snapshot, ballast.plan), validatePlan(snapshot, greedy.plan), validatePlan(snapshot, atDefault.plan)];
      const greedyMb = reports[1].memoryMovedMb;
      const there = imbalanceAtMemory(snapshot, ballast.plan.moves, greedyMb);
      const margin = reports[1].imbalanceAfter - there.imbalance;
      const ok = margin >= -1e-12 && reports.every((r) => r.valid);
      verdicts.push({ size: size.name, seed, ok, margin, capped: greedy.capped });
      lines.push([
        size.name,
        String(seed),
        fmt(reports[0].imbalanceBefore, 4),
        fmt(reports[1].imbalanceAfter, 5),
        `${greedy.plan.moves.length}${greedy.capped ? ' CAPPED' : ''}`,
        fmt(greedyMb / 1024, 1),
        fmt(there.imbalance, 5),
        `${there.moves} (${fmt(there.mb / 1024, 1)})`,
        fmt(reports[0].imbalanceAfter, 5),
        String(ballast.plan.moves.length),
        fmt(reports[0].memoryMovedMb / 1024, 1),
        reports.every((r) => r.valid) ? (margin > 1e-12 ? 'ballast better' : margin >= -1e-12 ? 'tie' : 'GREEDY better') : 'INVALID PLAN',
        fmt(reports[2].imbalanceAfter, 4),
        `${atDefault.plan.moves.length} (${atDefault.trace.summary.optionalMoves})`,
        atDefault.trace.summary.balanceStop,
      ]);
      process.stderr.write(`  fresh ${size.name} seed ${seed} done\n`);
    }
  }
  console.log(
    `\nFresh clusters, ${seedsPerSize} seeds per size (not the benchmark's): Ballast (threshold 5) at the memory greedy moved, against greedy; threshold 3 (the default) beside it.`,
  );
  console.log("'ballast at greedy GB': imbalance after the longest prefix of Ballast's plan that moves no more memory than greedy's whole plan.");
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  for (const cells of [header, widths.map((w) => '-'.repeat(w)), ...lines]) console.log(cells.map((c, i) => c.padEnd(widths[i])).join(' | ').trimEnd());
  const lost = verdicts.filter((v) => !v.ok);
  console.log(
    `${lost.length === 0 ? 'PASS' : 'FAIL'}  fresh clusters: Ballast at greedy's memory ties or beats greedy on ${verdicts.length - lost.length} of ${verdicts.length} ` +
      `(smallest margin ${fmt(Math.min(...verdicts.map((v) => v.margin)), 6)})${lost.length ? `; loses on ${lost.map((v) => `${v.size} seed ${v.seed}`).join(', ')}` : ''}`,
  );
}

main();
