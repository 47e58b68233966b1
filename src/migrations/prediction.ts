import type { MigrationRequest } from '../engine/migration-engine.js';
import { estimatePrecopy } from '../planner/cost.js';
import { DEFAULT_BANDWIDTH_MBPS } from '../planner/model.js';

/** What the planner's pre-copy cost model expected of a compute migration, kept beside what the engine measured. */
export interface MigrationPrediction {
  totalTimeMs: number;
  downtimeMs: number;
  transferredBytes: number;
  precopyIterations: number;
  converges: boolean;
  /** The inputs: the VM's dirty rate as the inventory had it (measured, with the libvirt source) and the link. */
  memoryDirtyRateMbps: number;
  linkMbps: number;
}

export function predictionFor(request: MigrationRequest): MigrationPrediction | null {
  if (request.kind !== 'compute') return null;
  const linkMbps = Math.min(request.source.migrationBandwidthMbps ?? DEFAULT_BANDWIDTH_MBPS, request.target.migrationBandwidthMbps ?? DEFAULT_BANDWIDTH_MBPS);
  const memoryDirtyRateMbps = request.vm.memoryDirtyRateMbps ?? 0;
  const estimate = estimatePrecopy({ poweredOn: true, memoryMb: request.vm.memoryMb, dirtyRateMbps: memoryDirtyRateMbps, linkMbps });
  return {
    totalTimeMs: Math.round(estimate.seconds * 1000),
    downtimeMs: Math.round(estimate.downtimeMs),
    transferredBytes: Math.round(estimate.transferredMb * 1024 * 1024),
    precopyIterations: estimate.rounds,
    converges: estimate.converges,
    memoryDirtyRateMbps,
    linkMbps,
  };
}
