import { HttpException, Inject, Injectable, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import type { Principal } from './roles.js';
import type { Redis } from 'ioredis';
import { REDIS } from '../redis/redis.module.js';
import { SharedTokenBuckets } from './shared-token-buckets.js';
import { addressBucketName, TokenBuckets } from './token-buckets.js';

/**
 * The access guard's limits (public routes have none): requests per API key
 * (RATE_LIMIT_PER_MINUTE) and failed authentications per client address
 * (AUTH_FAILURE_LIMIT_PER_MINUTE). An address out of failures is refused before its key is even
 * looked at, so that guessing keys goes no faster than the limit; one failure is allowed again as
 * soon as the bucket has refilled a token, so a caller behind the same address waits seconds, not
 * minutes. Counted in Redis, so every API process counts a caller alike (see SharedTokenBuckets).
 */
@Injectable()
export class RateLimits {
  private readonly logger = new Logger('RateLimits');
  private readonly perKey: SharedTokenBuckets;
  private readonly authFailures: SharedTokenBuckets;
  /** One warning a minute per address, however long it keeps failing (and one about Redis). */
  private readonly warnings = new TokenBuckets(1);

  constructor(@Inject(BALLAST_CONFIG) config: BallastConfig, @Inject(REDIS) redis: Redis) {
    const redisFailed = (error: Error) => {
      if (this.warnings.take('redis') === 0) this.logger.warn(`rate limits counted in this process only for now: ${error.message}`);
    };
    this.perKey = new SharedTokenBuckets(redis, `${config.REDIS_PREFIX}:rate:requests`, config.RATE_LIMIT_PER_MINUTE, redisFailed);
    this.authFailures = new SharedTokenBuckets(redis, `${config.REDIS_PREFIX}:rate:auth-failures`, config.AUTH_FAILURE_LIMIT_PER_MINUTE, redisFailed);
  }

  /** Refuses (429) a request from an address that has used up its failed authentications. */
  async checkAddress(request: Request, response: Response): Promise<void> {
    const seconds = await this.authFailures.secondsUntilToken(clientAddress(request));
    if (seconds > 0) {
      throw tooManyRequests(
        response,
        seconds,
        'AUTH_FAILURE_LIMIT_PER_MINUTE',
        `too many failed authentications from this address (more than ${this.authFailures.perMinute} a minute): retry in ${seconds} s with a valid key`,
      );
    }
  }

  async authenticationFailed(request: Request): Promise<void> {
    const address = clientAddress(request);
    if ((await this.authFailures.spend(address)) > 0 && this.warnings.take(address) === 0) {
      this.logger.warn(`client ${address} failed authentication more than ${this.authFailures.perMinute} times a minute: its requests are refused (429) for now`);
    }
  }

  /** Counts a request of `principal` (by key; the open API by address) and refuses it (429) past the limit. */
  async countRequest(principal: Principal, request: Request, response: Response): Promise<void> {
    const seconds = await this.perKey.take(principal.keyId ? `key ${principal.keyId}` : `address ${clientAddress(request)}`);
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
