import type { CreatedKeyView } from '../../admin/keys.js';
import type { ApiCommand } from '../command.js';
import { stringValue } from '../command.js';
import { record } from '../table.js';

/** `key add|revoke`: a tenant's API keys (CONTRACT section 6). */

export const keyAdd: ApiCommand = {
  kind: 'api',
  words: ['key', 'add'],
  summary: "Mint a key for a tenant, or register the tenant's existing LiteLLM key (--key).",
  args: ['tenant_id'],
  options: {
    key: { type: 'string', value: '<key>', description: 'register this LiteLLM virtual key instead of minting one' },
  },
  examples: ['budget-gateway key add acme', 'budget-gateway key add acme --key "$LITELLM_VIRTUAL_KEY"'],
  async run(api, { args, options }) {
    const key = stringValue(options.key);
    const created = (await api.post(`/tenants/${encodeURIComponent(args.tenant_id!)}/keys`, key === undefined ? {} : { key })) as CreatedKeyView;
    return {
      json: created,
      text: `${record([
        ['key_id', created.key_id],
        ['prefix', created.prefix],
        ['key', created.key],
      ])}\nThe gateway keeps only a hash of the key: this is the only time it is shown.`,
    };
  },
};

export const keyRevoke: ApiCommand = {
  kind: 'api',
  words: ['key', 'revoke'],
  summary: 'Revoke a key: it stops working on every replica at once.',
  args: ['tenant_id', 'key_id'],
  options: {},
  examples: ['budget-gateway key revoke acme 3f2a9c1e-...'],
  async run(api, { args }) {
    const answer = await api.delete(`/tenants/${encodeURIComponent(args.tenant_id!)}/keys/${encodeURIComponent(args.key_id!)}`);
    return { json: answer, text: `Revoked key ${args.key_id} of tenant ${args.tenant_id}.` };
  },
};
