import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Ballast-Signature';
export const TIMESTAMP_HEADER = 'X-Ballast-Timestamp';

/**
 * `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the webhook's secret>`: the timestamp is
 * signed with the body so that a receiver can refuse an old delivery replayed to it.
 */
export function sign(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** What a receiver does (the README shows it): recompute and compare in constant time. */
export function verify(secret: string, timestamp: string, body: string, signature: string): boolean {
  const expected = Buffer.from(sign(secret, timestamp, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
