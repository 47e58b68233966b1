import { isIP } from 'node:net';
import { ConfigError } from '../config/config-error.js';

const LOOPBACK = '127.0.0.1';

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/**
 * Where the API listens (HOST), given whether it is open (no key configured at all). An open API
 * stays on loopback: anyone who reaches it could do anything. `undefined` is every interface.
 */
export function bindAddress(host: string, open: boolean): { host: string | undefined; notice?: string } {
  if (open && host !== '' && !isLoopback(host)) {
    throw new ConfigError(
      `HOST=${host} would expose an API that has no key: set BALLAST_ADMIN_KEY (or create a key on loopback first), or leave HOST unset`,
    );
  }
  if (open) {
    return {
      host: host || LOOPBACK,
      notice: `no API key configured (BALLAST_ADMIN_KEY unset, no stored key): the API is open, so it listens on ${host || LOOPBACK} only`,
    };
  }
  return { host: host || undefined };
}
