// LiteLLM's key management endpoints as far as the gateway's key sync uses them: POST /key/update
// and POST /key/{key}/reset_spend, authorized by the master key, over an in-memory set of virtual
// keys. Shapes follow litellm/proxy/management_endpoints/key_management_endpoints.py.

import { createHash } from 'node:crypto';
import { isObject, type Json } from './payloads.js';
import { type Exchange, sendError, sendJson } from './wire.js';

export interface SimVirtualKey {
  /** LiteLLM's id of the key: the hex SHA-256 of the key itself. */
  readonly token: string;
  spend: number;
  /** Where LiteLLM keeps temp_budget_increase and temp_budget_expiry. */
  metadata: Record<string, unknown>;
}

export interface SimKeyApiOptions {
  masterKey: string;
  /** Answer every key management call with this status (0: serve them): a LiteLLM outage. */
  keyApiStatus: number;
  /** false: a LiteLLM from before /key/{key}/reset_spend (PR #20305), answering FastAPI's 404. */
  keyResetRoute: boolean;
}

const RESET_SPEND = /^\/key\/(.+)\/reset_spend$/;

export class SimKeys {
  readonly byToken = new Map<string, SimVirtualKey>();

  /** Makes `key` (plain) known to the simulated LiteLLM. */
  add(key: string, spend = 0): SimVirtualKey {
    const virtualKey: SimVirtualKey = { token: tokenOf(key), spend, metadata: {} };
    this.byToken.set(virtualKey.token, virtualKey);
    return virtualKey;
  }

  /** By plain key or by hash, as LiteLLM looks keys up (only `sk-` keys are hashed first). */
  get(key: string): SimVirtualKey | undefined {
    return this.byToken.get(key.startsWith('sk-') ? tokenOf(key) : key);
  }

  /** Answers a key management call; false when `path` is none of them. */
  handle(ex: Exchange, method: string, path: string, body: unknown, options: SimKeyApiOptions): boolean {
    const reset = RESET_SPEND.exec(path);
    if (method !== 'POST' || (path !== '/key/update' && !reset)) return false;
    if (reset && !options.keyResetRoute) {
      sendJson(ex, 404, { detail: 'Not Found' });
      return true;
    }
    if (options.keyApiStatus) sendError(ex, options.keyApiStatus);
    else if (ex.req.headers.authorization !== `Bearer ${options.masterKey}`) sendError(ex, 401, 'Authentication Error, invalid master key');
    else if (!isObject(body)) sendError(ex, 422, 'Request body must be a JSON object.');
    else if (reset) this.resetSpend(ex, reset[1]!, body);
    else this.update(ex, body);
    return true;
  }

  private update(ex: Exchange, body: Json): void {
    const { key, spend, temp_budget_increase: increase, temp_budget_expiry: expiry } = body;
    if (typeof key !== 'string') return sendError(ex, 422, 'key is required');
    if ((increase === undefined) !== (expiry === undefined)) {
      return sendError(ex, 422, 'temp_budget_increase and temp_budget_expiry must be set together');
    }
    const found = this.get(key);
    if (!found) return sendError(ex, 404, `Key not found: ${key}`);
    if (typeof spend === 'number') found.spend = spend;
    if (increase !== undefined) Object.assign(found.metadata, { temp_budget_increase: increase, temp_budget_expiry: expiry });
    sendJson(ex, 200, { key: found.token, spend: found.spend, metadata: found.metadata });
  }

  private resetSpend(ex: Exchange, key: string, body: Json): void {
    const found = this.byToken.get(key.includes('sk') ? tokenOf(key) : key);
    if (!found) return sendError(ex, 404, `Key ${key} not found.`);
    const resetTo = body.reset_to;
    if (typeof resetTo !== 'number' || resetTo < 0 || resetTo > found.spend) {
      return sendError(ex, 400, `reset_to must be a number from 0 to the current spend (${found.spend})`);
    }
    const previous = found.spend;
    found.spend = resetTo;
    sendJson(ex, 200, { key_hash: found.token, spend: resetTo, previous_spend: previous, max_budget: null, budget_reset_at: null });
  }
}

function tokenOf(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
