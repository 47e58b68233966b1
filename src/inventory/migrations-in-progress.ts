import type { EntityManager } from 'typeorm';

/**
 * The inventory's port on migrations: a VM or host that takes part in a migration not yet ended
 * cannot be deleted or moved by hand. The inventory owns this interface and its token; the
 * migrations module (which writes the inventory's tables) provides it, so that the inventory never
 * imports the migrations module.
 */
export interface MigrationsInProgress {
  /** One migration not yet ended of the VM, if any. */
  firstOfVm(manager: EntityManager, vmId: string): Promise<{ id: string } | undefined>;
  /** One migration not yet ended from or to the host, if any. */
  firstOfHost(manager: EntityManager, hostId: string): Promise<{ id: string; vmId: string } | undefined>;
}

export const MIGRATIONS_IN_PROGRESS = Symbol('MigrationsInProgress');
