import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Keys are 256 random bits, so only their SHA-256 is stored. A slow hash (bcrypt, scrypt, argon2)
 * is there to make guessing a human's low-entropy password expensive; no guessing finds a 256-bit
 * random key, however fast each try is, so it would cost every request time and buy nothing. A
 * plain digest also lets a key be found by an indexed lookup of its hash.
 */
const KEY_PREFIX = 'blst_';

export function newKey(): string {
  return `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function hashKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** What a listing shows of a key so a person can tell keys apart: its first characters. */
export function keyPrefix(key: string): string {
  return key.slice(0, KEY_PREFIX.length + 6);
}

/** Compares two keys in time independent of where they differ. */
export function sameKey(a: string, b: string): boolean {
  return timingSafeEqual(hashKey(a), hashKey(b));
}
