import { HttpException, Inject, Injectable, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import type { Principal } from './roles.js';
import { addressBucketName, TokenBuckets } from './token-buckets.js';

/**
 * The access guard's limits (public routes have none): requests per API key
 * (RATE_LIMIT_PER_MINUTE) and failed authentications per client address
 * (AUTH_FAILURE_LIMIT_PER_MINUTE). An address out of failures is refused before its key is even
 * looked at, so that guessing keys goes no faster than the limit; one failure is allowed again as
 * soon as the bucket has refilled a token, so a caller behind the same address waits seconds, not
 * minutes. Kept in this process's memory: each API process counts on its own.
 */
@Injectable()
export class RateLimits {
  private readonly logger = new Logger('RateLimits');
  private readonly perKey: TokenBuckets;
  private readonly authFailures: TokenBuckets;
  /** One warning a minute per address, however long it keeps failing. */
  private readonly warnings = new TokenBuckets(1);

  constructor(@Inject(BALLAST_CONFIG) config: BallastConfig) {
    this.perKey = new TokenBuckets(config.RATE_LIMIT_PER_MINUTE);
    this.authFailures = new TokenBuckets(config.AUTH_FAILURE_LIMIT_PER_MINUTE);
  }

  /** Refuses (429) a request from an address that has used up its failed authentications. */
  checkAddress(request: Request, response: Response): void {
    const seconds = this.authFailures.secondsUntilToken(clientAddress(request));
    if (seconds > 0) {
      throw tooManyRequests(
        response,
        seconds,
        'AUTH_FAILURE_LIMIT_PER_MINUTE',
        `too many failed authentications from this address (more than ${this.authFailures.perMinute} a minute): retry in ${seconds} s with a valid key`,
      );
    }
  }

  authenticationFailed(request: Request): void {
    const address = clientAddress(request);
    this.authFailures.spend(address);
    if (this.authFailures.secondsUntilToken(address) > 0 && this.warnings.take(address) === 0) {
      this.logger.warn(`client ${address} failed authentication more than ${this.authFailures.perMinute} times a minute: its requests are refused (429) for now`);
    }
  }

  /** Counts a request of `principal` (by key; the open API by address) and refuses it (429) past the limit. */
  countRequest(principal: Principal, request: Request, response: Response): void {
    const seconds = this.perKey.take(principal.keyId ? `key ${principal.keyId}` : `address ${clientAddress(request)}`);
    if (seconds > 0) {
      throw tooManyRequests(
        response,
        seconds,
        'RATE_LIMIT_PER_MINUTE',
        `key "${principal.keyName}" made more than ${this.perKey.perMinute} requests a minute: retry in ${seconds} s`,
      );
    }
  }
}

function clientAddress(request: Request): string {
  // req.ip follows TRUST_PROXY (Express's "trust proxy"): the client a trusted proxy names.
  return addressBucketName(request.ip ?? request.socket.remoteAddress);
}

function tooManyRequests(response: Response, seconds: number, limit: string, message: string): HttpException {
  response.setHeader('Retry-After', String(seconds));
  return new HttpException({ statusCode: 429, error: 'Too Many Requests', message, limit, retryAfterSeconds: seconds }, 429);
}
