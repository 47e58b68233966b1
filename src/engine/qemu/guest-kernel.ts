/**
 * The lab guests' kernel, assembled from guest/dirtier.S (the source and how to rebuild these bytes
 * are there): a 244-byte multiboot image that dirties guest memory at the rate given on its command
 * line, so that a lab migration copies memory that really changes under it.
 */
export const GUEST_KERNEL = Buffer.from(
  'ArCtGwIAAQD8T1HkAAAQAAAAEAD0ABAAAAAAACAAEAD6vAAACQAx7fYDBHQei3MQD7YGRoXAdBOD6DCD+Al3B2vtCgHF6+kx7evli1MIweIKgcIAABAAgeIA8P//vwAAIACJP4HHABAAADnXcvTHBQAIAQBCT09Uhe10aL8AAAEAuOcAEACMycHhEGaJwWa4AI6+AAEAAIkPiUcEg8cITnX1DwEd7gAQALA05kOwm+ZAsC7mQLD+5iGw/+ahMcm/AAAgAPv0+gHpg/lkcvaD6WT/B4HHABAAADnXcuy/AAAgAOvl9Ov9ULAg5iBYz/8HAAABAA==',
  'base64',
);

/** Where the kernel writes BOOT_MARKER once it has taken its memory into use (guest physical address). */
export const BOOT_MARKER_ADDRESS = 0x10800;
export const BOOT_MARKER = Buffer.from('BOOT');

const PAGE_SIZE = 4096;

/** The kernel command line for a guest that dirties `megabitsPerSecond` of memory (0: idle). */
export function guestKernelArgument(megabitsPerSecond: number): string {
  const pagesPerSecond = Math.max(0, Math.round((megabitsPerSecond * 1_000_000) / 8 / PAGE_SIZE));
  return String(pagesPerSecond);
}
