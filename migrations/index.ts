/** Every schema migration, in order. `synchronize` stays off: the schema changes only through these. */
import { Inventory1764000000000 } from './1764000000000-Inventory.js';

export const MIGRATIONS = [Inventory1764000000000];
