import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');

/** Every source file (tests aside) with the files it imports at run time (type-only imports leave no trace in the output). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts')) {
        const text = readFileSync(path, 'utf8');
        const targets = [...text.matchAll(/^(import|export)\s(?!type\s)[^;]*?from\s+'(\.[^']+)\.js'/gms)].map((m) =>
          relative(SRC, normalize(join(dirname(path), `${m[2]}.ts`))),
        );
        graph.set(relative(SRC, path), targets);
      }
    }
  };
  walk(SRC);
  return graph;
}

function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return found;
}

describe('imports', () => {
  const graph = importGraph();

  it('finds the imports it checks', () => {
    expect(graph.get('config/config.ts')).toContain('config/config-error.ts');
  });

  it('have no cycle', () => {
    expect(cycles(graph).map((cycle) => cycle.join(' -> '))).toEqual([]);
  });

  it('keep the inventory free of the migrations module, which writes its tables (it reaches migrations through its own port)', () => {
    const inventoryImports = [...graph].filter(([file]) => file.startsWith('inventory/')).flatMap(([, targets]) => targets);
    expect(inventoryImports.filter((target) => target.startsWith('migrations/'))).toEqual([]);
  });
});
