import type { Model } from './model.js';

/**
 * Pre-copy live-migration estimate (vMotion / QEMU style): the first round copies all configured
 * memory over the slower of the two hosts' links; each further round re-sends what the guest
 * dirtied during the previous one, until the rest fits in the switchover budget. A guest that
 * dirties memory as fast as the link carries it never converges: it is stunned after the last
 * round and the rest is sent during the switchover (long downtime).
 */
export interface CostEstimate {
  /** Total pre-copy plus switchover time. */
  seconds: number;
  /** Everything sent, re-sent pages included. */
  transferredMb: number;
  rounds: number;
  downtimeMs: number;
  converges: boolean;
}

const MAX_ROUNDS = 30;
const SWITCHOVER_BUDGET_S = 0.3;
/** A powered-off VM moves only its configuration (its disks stay on the shared datastores). */
const COLD_MIGRATION_S = 2;

export function estimateCost(model: Model, v: number, from: number, to: number): CostEstimate {
  return estimatePrecopy({
    poweredOn: model.vmOn[v] !== 0,
    memoryMb: model.vmMem[v],
    dirtyRateMbps: model.vmDirty[v],
    linkMbps: Math.min(model.bandwidth[from], model.bandwidth[to]),
  });
}

/** The same estimate for one VM and one link, outside a model (the prediction recorded with each migration). */
export function estimatePrecopy(vm: { poweredOn: boolean; memoryMb: number; dirtyRateMbps: number; linkMbps: number }): CostEstimate {
  if (!vm.poweredOn) return { seconds: COLD_MIGRATION_S, transferredMb: 0, rounds: 0, downtimeMs: 0, converges: true };
  const linkMBps = vm.linkMbps / 8;
  const dirtyMBps = vm.dirtyRateMbps / 8;
  const switchoverMb = linkMBps * SWITCHOVER_BUDGET_S;
  let toSend = vm.memoryMb;
  let seconds = 0;
  let transferredMb = 0;
  let rounds = 0;
  while (rounds < MAX_ROUNDS) {
    const t = toSend / linkMBps;
    seconds += t;
    transferredMb += toSend;
    rounds++;
    // What the guest dirtied meanwhile (never more than its memory) is the next round.
    toSend = Math.min(dirtyMBps * t, vm.memoryMb);
    if (toSend <= switchoverMb) break;
  }
  const downtime = toSend / linkMBps;
  return {
    seconds: seconds + downtime,
    transferredMb: transferredMb + toSend,
    rounds,
    downtimeMs: downtime * 1000,
    converges: toSend <= switchoverMb,
  };
}

/** Just the seconds, allocation-free, for the candidate loop. */
export function costSeconds(model: Model, v: number, from: number, to: number): number {
  if (!model.vmOn[v]) return COLD_MIGRATION_S;
  const linkMBps = Math.min(model.bandwidth[from], model.bandwidth[to]) / 8;
  if (model.vmDirty[v] === 0) return model.vmMem[v] / linkMBps;
  return estimateCost(model, v, from, to).seconds;
}
