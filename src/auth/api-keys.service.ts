import { Inject, Injectable } from '@nestjs/common';
import { notFound } from '../common/http-errors.js';
import type { Page } from '../common/query-params.js';
import { isUuid } from '../common/query-params.js';
import { BALLAST_CONFIG, type BallastConfig } from '../config/config.js';
import { type ApiKeyRow, ApiKeysRepository } from './api-keys.repository.js';
import { hashKey, keyPrefix, newKey, sameKey } from './key-hash.js';
import { BOOTSTRAP_KEY_ID, type KeyRole, OPEN_PRINCIPAL, type Principal } from './roles.js';

export interface ApiKeyView {
  id: string;
  name: string;
  role: KeyRole;
  /** The key's first characters, to tell keys apart; the key itself is shown once, when created. */
  prefix: string;
  createdAt: string;
  createdByKeyId: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  active: boolean;
}

export interface NewApiKey {
  name: string;
  role: KeyRole;
  expiresAt: Date | null;
}

/** Why a request's key was not accepted (the 401's message). */
export type AuthFailure = 'missing' | 'malformed' | 'unknown' | 'revoked' | 'expired';

/** Longer than any key Ballast makes or accepts as BALLAST_ADMIN_KEY: not worth hashing. */
const MAX_KEY_LENGTH = 512;

function view(row: ApiKeyRow, now = new Date()): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    prefix: row.key_prefix,
    createdAt: row.created_at.toISOString(),
    createdByKeyId: row.created_by_key_id,
    expiresAt: row.expires_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    active: row.revoked_at === null && (row.expires_at === null || row.expires_at > now),
  };
}

/** API keys: creation (shown once), revocation, and which key (if any) a request carries. */
@Injectable()
export class ApiKeysService {
  /** Once any key is stored the API asks for keys for good, so only `false` is ever read again. */
  private keysStored = false;

  constructor(
    private readonly keys: ApiKeysRepository,
    @Inject(BALLAST_CONFIG) private readonly config: BallastConfig,
  ) {}

  /** No BALLAST_ADMIN_KEY and no key ever stored: every route is open (and main.ts binds to loopback). */
  async isOpen(): Promise<boolean> {
    if (this.config.BALLAST_ADMIN_KEY) return false;
    if (!this.keysStored) this.keysStored = await this.keys.anyStored();
    return !this.keysStored;
  }

  /** The principal behind an Authorization header, or why there is none. */
  async authenticate(authorization: string | undefined, now = new Date()): Promise<Principal | AuthFailure> {
    if (await this.isOpen()) return OPEN_PRINCIPAL;
    if (!authorization) return 'missing';
    const match = /^Bearer +(\S+)\s*$/i.exec(authorization);
    if (!match || match[1].length > MAX_KEY_LENGTH) return 'malformed';
    const key = match[1];
    const bootstrap = this.config.BALLAST_ADMIN_KEY;
    if (bootstrap && sameKey(key, bootstrap)) return { keyId: BOOTSTRAP_KEY_ID, keyName: 'BALLAST_ADMIN_KEY', role: 'admin' };
    const row = await this.keys.byHash(hashKey(key));
    if (!row) return 'unknown';
    if (row.revoked_at) return 'revoked';
    if (row.expires_at && row.expires_at <= now) return 'expired';
    await this.keys.touch(row.id);
    return { keyId: row.id, keyName: row.name, role: row.role };
  }

  async create(request: NewApiKey, by: Principal): Promise<ApiKeyView & { key: string }> {
    const key = newKey();
    const row = await this.keys.insert({ ...request, hash: hashKey(key), prefix: keyPrefix(key), createdBy: by.keyId });
    this.keysStored = true;
    return { ...view(row), key };
  }

  async list(includeInactive: boolean, page: { limit: number; offset: number }): Promise<Page<ApiKeyView>> {
    const { rows, total } = await this.keys.page(includeInactive, page.limit, page.offset);
    return { items: rows.map((r) => view(r)), total, ...page };
  }

  async get(id: string): Promise<ApiKeyView> {
    const row = isUuid(id) ? await this.keys.byId(id) : undefined;
    if (!row) throw notFound('API key', id);
    return view(row);
  }

  /** Revokes a key at once: its next request is refused. Revoking a revoked key changes nothing. */
  async revoke(id: string): Promise<ApiKeyView> {
    const row = isUuid(id) ? await this.keys.revoke(id) : undefined;
    if (!row) throw notFound('API key', id);
    return view(row);
  }
}
