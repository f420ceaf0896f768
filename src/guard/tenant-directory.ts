import { parseDuration } from '../budget/duration.js';
import type { PeriodicLimit, TenantLimits } from '../budget/scopes.js';
import type { Db } from '../db/client.js';
import { getGlobalBudget } from '../db/global-budget.js';
import { findKeyOwner, hashKey, type ActiveKey, type KeyOrigin } from '../db/keys.js';
import { activeOverride } from '../db/overrides.js';
import type { BudgetOverride, GlobalBudget, Tenant } from '../db/schema.js';
import { getTenant } from '../db/tenants.js';

/** What the hot path needs to know about a tenant, in domain units. */
export interface TenantPolicy extends TenantLimits {
  readonly upstreamKey: string | null;
}

export interface Caller {
  readonly keyId: string;
  readonly origin: KeyOrigin;
  /** The key's own budget (CONTRACT section 11), null when it has none. */
  readonly keyBudgetMicros: number | null;
  readonly tenant: TenantPolicy;
}

/** Unknown keys are remembered too (a flood of bad keys must not reach the database), up to a cap. */
const MAX_UNKNOWN_KEYS = 10_000;
/** Keys whose hash is remembered; past this (a flood of random keys) the memo starts over. */
const MAX_HASHED_KEYS = 100_000;

/**
 * Resolves API keys to tenants from an in-process cache, so the hot path touches no database
 * after a key's first request. Admin changes invalidate entries (on every replica, through the
 * invalidation bus); concurrent first requests for one key share a single lookup.
 */
export class TenantDirectory {
  readonly #keys = new Map<string, Promise<ActiveKey | undefined>>();
  #global: Promise<PeriodicLimit | undefined> | undefined;
  readonly #tenants = new Map<string, Promise<TenantPolicy | undefined>>();
  /** key -> its hash: hashing every request costs more than the rest of the lookup. */
  readonly #hashes = new Map<string, string>();
  #unknownKeys = 0;
  /** Bumped by every tenant invalidation: a key lookup begun before one must not cache its tenant. */
  #tenantGeneration = 0;

  constructor(
    private readonly db: Db,
    private readonly now: () => number,
  ) {}

  /**
   * The caller behind a key when the cache already holds the answer, without waiting: a Caller,
   * null for a key known to be unknown (or whose tenant is gone), undefined when only `resolve`
   * can tell (first request, a lookup under way, an entry just invalidated). The same entries as
   * `resolve` reads, so an invalidation takes effect on both alike; a request through here
   * skips the four promises `resolve` and its caller would await.
   */
  known(apiKey: string): Caller | null | undefined {
    const found = settledValue(this.#keys.get(this.#hashOf(apiKey)));
    if (found === undefined || found === null) return found;
    const tenant = settledValue(this.#tenants.get(found.tenantId));
    if (tenant === undefined || tenant === null) return tenant;
    return { keyId: found.keyId, origin: found.origin, keyBudgetMicros: found.maxBudgetMicros, tenant };
  }

  async resolve(apiKey: string): Promise<Caller | undefined> {
    const hash = this.#hashOf(apiKey);
    let key = this.#keys.get(hash);
    if (!key) {
      key = this.#lookUp(hash);
      this.#remember(hash, key);
    }
    const found = await key;
    if (!found) return undefined;
    const tenant = await this.tenant(found.tenantId);
    return tenant && { keyId: found.keyId, origin: found.origin, keyBudgetMicros: found.maxBudgetMicros, tenant };
  }

  /** The system-wide cap, if one is set: the value itself once the cache holds it (every request but the first few), else a promise of it. */
  global(): PeriodicLimit | undefined | Promise<PeriodicLimit | undefined> {
    if (!this.#global) {
      const loading = noteSettled(getGlobalBudget(this.db).then((row) => row && globalLimit(row)));
      this.#global = loading;
      loading.catch(() => {
        if (this.#global === loading) this.#global = undefined;
      });
    }
    const known = settledValue(this.#global);
    return known === undefined ? this.#global : (known ?? undefined);
  }

  /** The global cap was set, changed or removed. */
  forgetGlobal(): void {
    this.#global = undefined;
  }

  tenant(tenantId: string): Promise<TenantPolicy | undefined> {
    let tenant = this.#tenants.get(tenantId);
    if (!tenant) {
      tenant = noteSettled(this.#loadTenant(tenantId));
      this.#tenants.set(tenantId, tenant);
      tenant.catch(() => this.#tenants.delete(tenantId));
    }
    return tenant;
  }

  /** A tenant's configuration, override or existence changed. */
  forgetTenant(tenantId: string): void {
    this.#tenantGeneration++;
    this.#tenants.delete(tenantId);
    for (const [hash, key] of this.#keys) {
      void key.then((k) => {
        if (k?.tenantId === tenantId) this.#keys.delete(hash);
      });
    }
  }

  /** A key was created or revoked. */
  forgetKey(keyHash: string): void {
    this.#keys.delete(keyHash);
  }

  forgetAll(): void {
    this.#tenantGeneration++;
    this.#global = undefined;
    this.#keys.clear();
    this.#tenants.clear();
    this.#unknownKeys = 0;
  }

  #hashOf(apiKey: string): string {
    let hash = this.#hashes.get(apiKey);
    if (hash === undefined) {
      if (this.#hashes.size >= MAX_HASHED_KEYS) this.#hashes.clear();
      hash = hashKey(apiKey);
      this.#hashes.set(apiKey, hash);
    }
    return hash;
  }

  /**
   * A key's first request: the key, its tenant and the tenant's override come in one query, and
   * the tenant is cached from it unless it is cached already or was invalidated meanwhile (the
   * row read may predate the change).
   */
  async #lookUp(hash: string): Promise<ActiveKey | undefined> {
    const generation = this.#tenantGeneration;
    const owner = await findKeyOwner(this.db, hash, new Date(this.now()));
    if (!owner) return undefined;
    const { tenantId } = owner.tenant;
    if (generation === this.#tenantGeneration && !this.#tenants.has(tenantId)) {
      this.#tenants.set(tenantId, noteSettled(Promise.resolve(tenantPolicy(owner.tenant, owner.override))));
    }
    return owner.key;
  }

  #remember(hash: string, key: Promise<ActiveKey | undefined>): void {
    this.#keys.set(hash, noteSettled(key));
    key.then(
      (found) => {
        if (found || ++this.#unknownKeys <= MAX_UNKNOWN_KEYS) return;
        this.#keys.delete(hash);
      },
      // A failed lookup (database down) is not an answer: the next request asks again.
      () => this.#keys.delete(hash),
    );
  }

  async #loadTenant(tenantId: string): Promise<TenantPolicy | undefined> {
    const [row, override] = await Promise.all([getTenant(this.db, tenantId), activeOverride(this.db, tenantId, new Date(this.now()))]);
    return row && tenantPolicy(row, override);
  }
}

/** What each cached promise fulfilled with (undefined kept as null), once it has. */
const settled = new WeakMap<Promise<unknown>, unknown>();

function noteSettled<T>(promise: Promise<T | undefined>): Promise<T | undefined> {
  promise.then(
    (value) => settled.set(promise, value ?? null),
    // A rejection is the map's owner's to handle; it leaves nothing to read here.
    () => undefined,
  );
  return promise;
}

/** A cached promise's value: null for "none", undefined while it is pending, rejected or absent. */
function settledValue<T>(promise: Promise<T | undefined> | undefined): T | null | undefined {
  return promise === undefined ? undefined : (settled.get(promise) as T | null | undefined);
}

/** A tenant row (and its active override) in domain units. */
export function tenantPolicy(row: Tenant, override: BudgetOverride | undefined): TenantPolicy {
  return {
    tenantId: row.tenantId,
    ...periodicLimit(row),
    upstreamKey: row.upstreamKey,
    override: override && { amountMicros: override.overrideAmountMicros, expiresAtMs: override.expiresAt.getTime() },
    modelBudgets: row.modelBudgets,
    maxTokens: row.maxTokens,
    maxRequests: row.maxRequests,
  };
}

/** The global cap's row in domain units. */
export function globalLimit(row: GlobalBudget): PeriodicLimit {
  return periodicLimit(row);
}

function periodicLimit(row: Tenant | GlobalBudget): PeriodicLimit {
  return {
    maxBudgetMicros: row.maxBudgetMicros,
    alertThresholds: row.alertThresholds ?? [row.alertThreshold],
    graceThreshold: row.graceThreshold,
    duration: parseDuration(row.budgetDuration),
    period: { startMs: row.periodStartedAt.getTime(), endMs: row.budgetResetAt.getTime() },
    anchorMs: (row.periodAnchorAt ?? row.budgetResetAt).getTime(),
  };
}
