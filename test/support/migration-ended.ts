import { isFinal } from '../../src/migrations/migration-state.js';
import type { TestApp } from './test-app.js';
import { waitFor } from './wait.js';

/** Waits until migration `id` has ended (succeeded, failed or cancelled); answers it as the API shows it. */
export function migrationEnded(http: TestApp['http'], id: string, timeoutMs: number, what = `migration ${id} to end`) {
  return waitFor(async () => {
    const m = (await http.get(`/api/v1/migrations/${id}`).expect(200)).body;
    return isFinal(m.state) ? m : null;
  }, timeoutMs, what);
}
