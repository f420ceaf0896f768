import { createHash, randomBytes } from 'node:crypto';
import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { isUniqueViolation } from './errors.js';
import { prepared } from './prepared.js';
import { apiKeys, budgetOverrides, tenants, type BudgetOverride, type Tenant } from './schema.js';

/**
 * API keys are stored only as SHA-256 hashes (CONTRACT section 2): the plain key exists in the
 * request that created it and in the client's hands, nowhere else. A plain hash rather than a slow
 * KDF because keys are long random strings (or LiteLLM virtual keys), not guessable passwords, and
 * the hash is computed on every request.
 */

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const PREFIX_LENGTH = 10;

export type KeyOrigin = 'minted' | 'registered';

export interface CreatedKey {
  readonly keyId: string;
  /** The plain key: returned once, to be shown once, never stored. */
  readonly key: string;
  readonly prefix: string;
  readonly origin: KeyOrigin;
}

export interface ActiveKey {
  readonly keyId: string;
  readonly tenantId: string;
  readonly origin: KeyOrigin;
  /** The key's own budget (CONTRACT section 11), null when it has none. */
  readonly maxBudgetMicros: number | null;
}

/** The key is already registered (to this tenant or another one). */
export class KeyAlreadyRegisteredError extends Error {
  override readonly name = 'KeyAlreadyRegisteredError';
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function mintKey(): string {
  return `sk-bg-${randomBase62(32)}`;
}

/** Registers `key` (a LiteLLM virtual key, forwarded unchanged) or mints a new one, with its own budget if given. */
export async function createKey(
  db: Db,
  tenantId: string,
  { key, maxBudgetMicros = null }: { key?: string; maxBudgetMicros?: number | null } = {},
): Promise<CreatedKey> {
  const plain = key ?? mintKey();
  const created: CreatedKey = {
    keyId: `key_${randomBase62(16)}`,
    key: plain,
    prefix: plain.slice(0, PREFIX_LENGTH),
    origin: key === undefined ? 'minted' : 'registered',
  };
  try {
    await db.insert(apiKeys).values({
      keyId: created.keyId,
      tenantId,
      keyHash: hashKey(plain),
      prefix: created.prefix,
      origin: created.origin,
      maxBudgetMicros,
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new KeyAlreadyRegisteredError(`key ${created.prefix}… is already registered`);
    throw err;
  }
  return created;
}

/** The key's owner, if the key is neither revoked nor its tenant deleted. */
export async function findActiveKey(db: Db, keyHash: string): Promise<ActiveKey | undefined> {
  const [found] = await db
    .select({ keyId: apiKeys.keyId, tenantId: apiKeys.tenantId, origin: apiKeys.origin, maxBudgetMicros: apiKeys.maxBudgetMicros })
    .from(apiKeys)
    .innerJoin(tenants, eq(tenants.tenantId, apiKeys.tenantId))
    .where(and(eq(apiKeys.keyHash, keyHash), isNull(apiKeys.revokedAt), isNull(tenants.deletedAt)));
  return found;
}

export interface KeyOwner {
  readonly key: ActiveKey;
  readonly tenant: Tenant;
  /** The tenant's override in force at `now`, if any. */
  readonly override: BudgetOverride | undefined;
}

/**
 * A key with its tenant and the tenant's override in force at `now`, in one statement: what a
 * key's first request needs, instead of a round trip for the key and another for its tenant.
 * At most one override is open per tenant (a partial unique index), so this is at most one row.
 */
export async function findKeyOwner(db: Db, keyHash: string, now: Date): Promise<KeyOwner | undefined> {
  const [found] = await prepared(db, 'find_key_owner', () =>
    db
      .select({
        keyId: apiKeys.keyId,
        origin: apiKeys.origin,
        maxBudgetMicros: apiKeys.maxBudgetMicros,
        tenant: tenants,
        override: budgetOverrides,
      })
      .from(apiKeys)
      .innerJoin(tenants, eq(tenants.tenantId, apiKeys.tenantId))
      .leftJoin(
        budgetOverrides,
        and(eq(budgetOverrides.tenantId, apiKeys.tenantId), isNull(budgetOverrides.endedAt), gt(budgetOverrides.expiresAt, sql.placeholder('now'))),
      )
      .where(and(eq(apiKeys.keyHash, sql.placeholder('keyHash')), isNull(apiKeys.revokedAt), isNull(tenants.deletedAt)))
      .prepare('find_key_owner'),
  ).execute({ keyHash, now: now.toISOString() });
  if (!found) return undefined;
  const { tenant, override, ...key } = found;
  return { key: { ...key, tenantId: tenant.tenantId }, tenant, override: override ?? undefined };
}

/** A tenant's keys that work, oldest first (never their hashes). */
export async function activeKeys(db: Db, tenantId: string) {
  return db
    .select({
      keyId: apiKeys.keyId,
      prefix: apiKeys.prefix,
      origin: apiKeys.origin,
      maxBudgetMicros: apiKeys.maxBudgetMicros,
      createdAt: apiKeys.createdAt,
    })
    .from(apiKeys)
    .where(and(eq(apiKeys.tenantId, tenantId), isNull(apiKeys.revokedAt)))
    .orderBy(apiKeys.createdAt, apiKeys.keyId);
}

/** The revoked key's hash (for cache invalidation), or undefined: unknown, another tenant's, or already revoked. */
export async function revokeKey(db: Db, tenantId: string, keyId: string): Promise<{ keyHash: string; prefix: string } | undefined> {
  const [revoked] = await db
    .update(apiKeys)
    .set({ revokedAt: sql`now()` })
    .where(and(eq(apiKeys.keyId, keyId), eq(apiKeys.tenantId, tenantId), isNull(apiKeys.revokedAt)))
    .returning({ keyHash: apiKeys.keyHash, prefix: apiKeys.prefix });
  return revoked;
}

/** The tenant's unrevoked keys registered from LiteLLM: the ones the LiteLLM key sync updates. */
export async function registeredKeys(db: Db, tenantId: string): Promise<{ keyId: string; keyHash: string }[]> {
  return db
    .select({ keyId: apiKeys.keyId, keyHash: apiKeys.keyHash })
    .from(apiKeys)
    .where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.origin, 'registered'), isNull(apiKeys.revokedAt)))
    .orderBy(apiKeys.createdAt);
}

/** Uniform base62 characters: bytes at or above 248 (= 4 * 62) are discarded, so there is no modulo bias. */
function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}
