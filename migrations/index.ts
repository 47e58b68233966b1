/** Every schema migration, in order. `synchronize` stays off: the schema changes only through these. */
import { Inventory1764000000000 } from './1764000000000-Inventory.js';
import { PlansAndMigrations1764100000000 } from './1764100000000-PlansAndMigrations.js';
import { Maintenance1764200000000 } from './1764200000000-Maintenance.js';
import { ApiKeys1764400000000 } from './1764400000000-ApiKeys.js';
import { Metrics1764500000000 } from './1764500000000-Metrics.js';
import { LibvirtHosts1764600000000 } from './1764600000000-LibvirtHosts.js';
import { ClosedLoop1764700000000 } from './1764700000000-ClosedLoop.js';
import { HostHealth1764700000001 } from './1764700000001-HostHealth.js';
import { Observability1764800000000 } from './1764800000000-Observability.js';
import { RequestedBy1765100000000 } from './1765100000000-RequestedBy.js';
import { AuditTrail1765200000000 } from './1765200000000-AuditTrail.js';
import { HaRestart1765700000000 } from './1765700000000-HaRestart.js';
import { EvaluationOutcome1765800000000 } from './1765800000000-EvaluationOutcome.js';
import { EngineAndDiskSize1765600000000 } from './1765600000000-EngineAndDiskSize.js';
import { DropPlanningRuns1765900000000 } from './1765900000000-DropPlanningRuns.js';

export const MIGRATIONS = [
  Inventory1764000000000,
  PlansAndMigrations1764100000000,
  Maintenance1764200000000,
  ApiKeys1764400000000,
  Metrics1764500000000,
  LibvirtHosts1764600000000,
  ClosedLoop1764700000000,
  HostHealth1764700000001,
  Observability1764800000000,
  RequestedBy1765100000000,
  AuditTrail1765200000000,
  HaRestart1765700000000,
  EvaluationOutcome1765800000000,
  EngineAndDiskSize1765600000000,
  DropPlanningRuns1765900000000,
];
