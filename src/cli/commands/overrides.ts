import type { GrantedView } from '../../admin/overrides.js';
import type { ApiCommand } from '../command.js';
import { numberOrText, stringValue } from '../command.js';
import { record, usd } from '../table.js';

/** `override grant|remove`: temporary budget increases (CONTRACT sections 3 and 6). */

export const overrideGrant: ApiCommand = {
  kind: 'api',
  words: ['override', 'grant'],
  summary: "Raise a tenant's budget for a while (a blocked tenant is admitted at once).",
  args: ['tenant_id'],
  options: {
    amount: { type: 'string', value: '<usd>', description: 'USD added to the budget (required, > 0)' },
    duration: { type: 'string', value: '<24h|7d|2w>', description: 'how long it lasts (required)' },
    reason: { type: 'string', value: '<text>', description: 'why, for the audit log (required, at least 10 characters)' },
    replace: { type: 'boolean', description: 'replace the active override instead of failing with 409' },
  },
  examples: ['budget-gateway override grant acme --amount 50 --duration 24h --reason "quarter-end batch jobs"'],
  async run(api, { args, options }) {
    const body = { override_amount: numberOrText(options.amount), duration: stringValue(options.duration), reason: stringValue(options.reason) };
    const query = options.replace ? '?replace=true' : '';
    const granted = (await api.post(`/tenants/${encodeURIComponent(args.tenant_id!)}/budget-override${query}`, body)) as GrantedView;
    return {
      json: granted,
      text: record([
        ['tenant', granted.tenant_id],
        ['override', usd(granted.override_amount)],
        ['budget now', usd(granted.new_max_budget)],
        ['expires at', granted.expires_at],
      ]),
    };
  },
};

export const overrideRemove: ApiCommand = {
  kind: 'api',
  words: ['override', 'remove'],
  summary: "End a tenant's active override now.",
  args: ['tenant_id'],
  options: {},
  examples: ['budget-gateway override remove acme'],
  async run(api, { args }) {
    const removed = (await api.delete(`/tenants/${encodeURIComponent(args.tenant_id!)}/budget-override`)) as { max_budget: number };
    return { json: removed, text: `Removed the override of tenant ${args.tenant_id}: its budget is ${usd(removed.max_budget)} again.` };
  },
};
