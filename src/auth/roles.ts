/**
 * The roles an API key can hold, weakest first: each one can do everything the ones before it can.
 * (Not to be confused with BALLAST_ROLES, which says what a process runs.)
 */
export const KEY_ROLES = ['viewer', 'operator', 'admin'] as const;
export type KeyRole = (typeof KEY_ROLES)[number];

/** Whether a key holding `held` may call a route that requires `required`. */
export function roleCovers(held: KeyRole, required: KeyRole): boolean {
  return KEY_ROLES.indexOf(held) >= KEY_ROLES.indexOf(required);
}

/** Who made a request: the key it carried, or the open API when no key is configured at all. */
export interface Principal {
  /** The key's id; `bootstrap` for BALLAST_ADMIN_KEY, null on an open API. */
  keyId: string | null;
  keyName: string;
  role: KeyRole;
}

export const OPEN_PRINCIPAL: Principal = { keyId: null, keyName: 'open API (no key configured)', role: 'admin' };
export const BOOTSTRAP_KEY_ID = 'bootstrap';
