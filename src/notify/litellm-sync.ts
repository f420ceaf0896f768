import { formatUsd, microsToUsd, type Micros } from '../budget/money.js';
import type { QueuedNotification } from '../db/audit.js';
import { DeliveryError } from './sink.js';

/**
 * LiteLLM key sync: when LITELLM_MASTER_KEY is set, a reset or an override of a tenant's budget is
 * mirrored onto the tenant's registered LiteLLM keys, so LiteLLM's own budget check agrees with the
 * gateway's. It travels through the outbox (channel `litellm`) like any notification: written in
 * the transaction of the change, delivered with retries, in order per tenant. Write at most one
 * such row per tenant in a transaction: rows of one transaction share `occurred_at`, so their
 * order is not kept.
 */

export type LitellmSyncEvent = 'litellm_reset_spend' | 'litellm_set_temp_budget' | 'litellm_clear_temp_budget';

export const litellmSync = {
  resetSpend(tenantId: string): QueuedNotification {
    return row('litellm_reset_spend', tenantId, `Reset the spend of ${tenantId}'s LiteLLM keys to $0.`, {});
  },

  setTempBudget(tenantId: string, amountMicros: Micros, expiresAtMs: number): QueuedNotification {
    const expiry = new Date(expiresAtMs).toISOString();
    return row('litellm_set_temp_budget', tenantId, `Raise the budget of ${tenantId}'s LiteLLM keys by $${formatUsd(amountMicros)} until ${expiry}.`, {
      temp_budget_increase: microsToUsd(amountMicros),
      temp_budget_expiry: expiry,
    });
  },

  clearTempBudget(tenantId: string): QueuedNotification {
    return row('litellm_clear_temp_budget', tenantId, `Remove the temporary budget increase of ${tenantId}'s LiteLLM keys.`, {});
  },
};

function row(event: LitellmSyncEvent, tenantId: string, message: string, data: Record<string, unknown>): QueuedNotification {
  return { channel: 'litellm', event, tenantId, message, data: { tenant_id: tenantId, ...data } };
}

/** What one row asks of each key. */
export type KeyAction =
  | { readonly kind: 'reset_spend' }
  | { readonly kind: 'set_temp_budget'; readonly increaseUsd: number; readonly expiresAtMs: number }
  | { readonly kind: 'clear_temp_budget' };

/** Reads a row back; a row no gateway version writes is an error that ends up `failed`. */
export function keyActionOf(event: string, data: Record<string, unknown>): KeyAction {
  switch (event) {
    case 'litellm_reset_spend':
      return { kind: 'reset_spend' };
    case 'litellm_clear_temp_budget':
      return { kind: 'clear_temp_budget' };
    case 'litellm_set_temp_budget': {
      const increaseUsd = data.temp_budget_increase;
      const expiresAtMs = typeof data.temp_budget_expiry === 'string' ? Date.parse(data.temp_budget_expiry) : NaN;
      if (typeof increaseUsd !== 'number' || !(increaseUsd >= 0) || Number.isNaN(expiresAtMs)) {
        throw new DeliveryError('litellm_set_temp_budget needs temp_budget_increase (USD) and temp_budget_expiry (ISO time)');
      }
      return { kind: 'set_temp_budget', increaseUsd, expiresAtMs };
    }
    default:
      throw new DeliveryError(`unknown LiteLLM sync event ${JSON.stringify(event)}`);
  }
}
