import {
  ALL_FILTERS,
  automationLevel,
  compatibilityGroup,
  cpuCap,
  datastores,
  hostState,
  memoryCapacity,
  mustRules,
  networks,
  type FilterPlugin,
} from './plugins/filters.js';
import { ALL_SCORERS, type ScorePlugin } from './plugins/scores.js';

/**
 * Profiles pick the plugins of each kind of work (as scheduler profiles do in Kubernetes).
 * `optional` moves (overload relief, balancing) also make manual and cooling VMs sit out.
 */
export interface Profile {
  readonly name: string;
  readonly filters: readonly FilterPlugin[];
  readonly scorers: readonly ScorePlugin[];
  readonly optional: boolean;
}

export const PROFILES = {
  /** Evacuation and must-rule repair, and the room made for them. */
  mandatory: { name: 'mandatory', filters: ALL_FILTERS, scorers: ALL_SCORERS, optional: false },
  /** Overload relief and balancing. */
  optional: { name: 'optional', filters: ALL_FILTERS, scorers: ALL_SCORERS, optional: true },
  /**
   * Checking a given list of moves (a subset of a plan, a move-back plan): an operator chose them,
   * so cooldown does not apply and manual VMs may move; vm-affinity is judged after the last move
   * because a group can only move one VM at a time.
   */
  check: {
    name: 'check',
    filters: [automationLevel, hostState, compatibilityGroup, networks, datastores, mustRules, memoryCapacity, cpuCap],
    scorers: [],
    optional: false,
  },
} as const satisfies Record<string, Profile>;
