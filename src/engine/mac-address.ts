import { createHash } from 'node:crypto';

/**
 * The MAC address of a VM's NIC, derived from its id so that every process (API, workers, engines)
 * agrees on it without storing it: 52:54:00 (QEMU's prefix) and three bytes of the id's SHA-256.
 */
export function macAddressFor(vmId: string): string {
  const digest = createHash('sha256').update(vmId).digest();
  const tail = [...digest.subarray(0, 3)].map((b) => b.toString(16).padStart(2, '0'));
  return ['52', '54', '00', ...tail].join(':');
}
