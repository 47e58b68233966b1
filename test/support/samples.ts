import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Snapshot } from '../../src/planner/snapshot.js';

/** Copies of the shared sample snapshots (shared/scenarios), kept in the repository so a clone is self-contained. */
export const SCENARIOS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/scenarios');

export function loadSample(name: string): Snapshot {
  return JSON.parse(readFileSync(resolve(SCENARIOS_DIR, name), 'utf8')) as Snapshot;
}
