import type { Db } from '../db/client.js';
import { registeredKeys } from '../db/keys.js';
import type { Notification } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { keyActionOf, type KeyAction } from './litellm-sync.js';
import { isSuccess, postJson, type Answer } from './post.js';
import { DeliveryError, type Sink } from './sink.js';

/**
 * Applies `litellm` outbox rows to each of the tenant's registered keys through LiteLLM's key
 * management API, authorized by the master key. The gateway holds only SHA-256 hex hashes of keys,
 * and LiteLLM takes exactly that as a key's id: `hash_token` in litellm/proxy/utils.py is
 * `sha256(token.encode()).hexdigest()`, and `_hash_token_if_needed` there (used by `/key/update`)
 * hashes only tokens that start with `sk-`, passing a hash through; `is_valid_api_key` accepts
 * `^[a-fA-F0-9]{64}$` as a hashed key. Endpoints, from
 * litellm/proxy/management_endpoints/key_management_endpoints.py:
 *
 * - reset: `POST /key/{key}/reset_spend` `{reset_to: 0}` (`reset_key_spend_fn`, LiteLLM PR #20305;
 *   it also evicts the cached key object). Proxies older than that answer FastAPI's route-level
 *   404 `{"detail":"Not Found"}`; then `POST /key/update` `{key, spend: 0}`.
 * - temporary budget: `POST /key/update` `{key, temp_budget_increase, temp_budget_expiry}`
 *   (`UpdateKeyRequest` wants both together; a LiteLLM Enterprise feature). Nulls are dropped
 *   there (`exclude_none`), so clearing sends an increase of 0 that expired when it was removed.
 *
 * A 404 for a key means LiteLLM does not know it (deleted there, or never a LiteLLM key): nothing
 * to update, so that key counts as done, with a warning. Any other failure is retried.
 */

export interface LitellmKeySinkOptions {
  readonly baseUrl: string;
  readonly masterKey: string;
  readonly db: Db;
  readonly logger: Logger;
  readonly timeoutMs?: number;
}

export function litellmKeySink(options: LitellmKeySinkOptions): Sink {
  const { db, logger } = options;
  const post = (path: string, body: Record<string, unknown>): Promise<Answer> =>
    postJson(`${options.baseUrl}${path}`, JSON.stringify(body), {
      headers: { authorization: `Bearer ${options.masterKey}` },
      timeoutMs: options.timeoutMs,
    });

  async function apply(action: KeyAction, keyHash: string, n: Notification): Promise<Answer> {
    switch (action.kind) {
      case 'reset_spend': {
        const answer = await post(`/key/${keyHash}/reset_spend`, { reset_to: 0 });
        return isUnknownRoute(answer) ? post('/key/update', { key: keyHash, spend: 0 }) : answer;
      }
      case 'set_temp_budget':
        return post('/key/update', {
          key: keyHash,
          temp_budget_increase: action.increaseUsd,
          temp_budget_expiry: litellmTime(action.expiresAtMs),
        });
      case 'clear_temp_budget':
        return post('/key/update', { key: keyHash, temp_budget_increase: 0, temp_budget_expiry: litellmTime(n.occurredAt.getTime()) });
    }
  }

  return {
    name: 'litellm',
    channel: 'litellm',
    async deliver(n, progress) {
      const action = keyActionOf(n.event, n.data);
      const keys = n.tenantId === null ? [] : await registeredKeys(db, n.tenantId);
      for (const key of keys) {
        const mark = `litellm:${key.keyId}`;
        if (progress.has(mark)) continue;
        const answer = await apply(action, key.keyHash, n);
        if (answer.status === 404) {
          logger.warn({ notification: n.id, event: n.event, tenant: n.tenantId, key_id: key.keyId }, 'LiteLLM does not know this key: nothing to sync');
        } else if (!isSuccess(answer.status)) {
          throw new DeliveryError(`${key.keyId}: HTTP ${answer.status}${detailOf(answer)}`);
        }
        progress.add(mark);
      }
    },
  };
}

/**
 * LiteLLM compares `temp_budget_expiry` with a naive `datetime.now()` (`_get_temp_budget_increase`,
 * litellm/proxy/auth/user_api_key_auth.py): an expiry with an offset would make that comparison
 * raise, so it gets UTC without one (LiteLLM's containers run in UTC).
 */
export function litellmTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}

function isUnknownRoute(answer: Answer): boolean {
  if (answer.status !== 404) return false;
  try {
    return (JSON.parse(answer.errorBody) as { detail?: unknown }).detail === 'Not Found';
  } catch {
    return false;
  }
}

// LiteLLM's error message (e.g. the Enterprise licence check) is what an operator needs to act on.
function detailOf(answer: Answer): string {
  const text = answer.errorBody.replace(/\s+/g, ' ').trim().slice(0, 200);
  return text === '' ? '' : ` ${text}`;
}
