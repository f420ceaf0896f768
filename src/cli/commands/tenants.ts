import type { TenantView } from '../../admin/tenant-view.js';
import type { ApiCommand, OptionSpec, Output } from '../command.js';
import { CliError, numberOrText, stringValue } from '../command.js';
import { percent, record, table, usd } from '../table.js';

/** `tenant create|show|list`: tenants and where their budgets stand (CONTRACT sections 3 and 6). */

const TENANT_FIELDS: Readonly<Record<string, OptionSpec & { field: string }>> = {
  'max-budget': { type: 'string', value: '<usd>', field: 'max_budget', description: 'budget per period in USD (required)', required: true },
  'alert-threshold': { type: 'string', value: '<percent>', field: 'alert_threshold', description: 'alert line, % of the budget (default 80)' },
  'grace-threshold': { type: 'string', value: '<percent>', field: 'grace_threshold', description: 'block line, % of the budget (default 110)' },
  duration: { type: 'string', value: '<12h|30d|2w|1mo>', field: 'budget_duration', description: 'period length (default 30d)' },
  'reset-at': { type: 'string', value: '<iso time>', field: 'budget_reset_at', description: 'end of the first period, e.g. 2026-12-01T00:00:00Z' },
  name: { type: 'string', value: '<text>', field: 'name', description: 'a display name' },
  'upstream-key': { type: 'string', value: '<key>', field: 'upstream_key', description: 'the LiteLLM key sent upstream for keys the gateway minted' },
};

export const tenantCreate: ApiCommand = {
  kind: 'api',
  words: ['tenant', 'create'],
  summary: 'Create a tenant with its budget (refuses an existing tenant unless --replace).',
  args: ['tenant_id'],
  options: { ...TENANT_FIELDS, replace: { type: 'boolean', description: "replace an existing tenant's configuration (its current spend is kept)" } },
  examples: ['budget-gateway tenant create acme --max-budget 500 --duration 1mo --reset-at 2026-12-01T00:00:00Z --name "Acme Corp"'],
  async run(api, { args, options }) {
    const path = `/tenants/${encodeURIComponent(args.tenant_id!)}`;
    // The API's PUT also replaces, resetting every field left out to its default: "create" must
    // not do that to an existing tenant by a typo in its id.
    if (!options.replace && (await api.find(path)) !== undefined) {
      throw new CliError(`tenant ${args.tenant_id} exists already; pass --replace to replace its configuration`);
    }
    const body: Record<string, unknown> = {};
    for (const [option, { field }] of Object.entries(TENANT_FIELDS)) {
      const value = options[option];
      if (value === undefined) continue;
      body[field] = ['max_budget', 'alert_threshold', 'grace_threshold'].includes(field) ? numberOrText(value) : stringValue(value);
    }
    return tenantOutput((await api.put(path, body)) as TenantView);
  },
};

export const tenantShow: ApiCommand = {
  kind: 'api',
  words: ['tenant', 'show'],
  summary: "Show a tenant's budget, spend, status, period and override.",
  args: ['tenant_id'],
  options: {},
  examples: ['budget-gateway tenant show acme', 'budget-gateway tenant show acme --json'],
  async run(api, { args }) {
    return tenantOutput((await api.get(`/tenants/${encodeURIComponent(args.tenant_id!)}`)) as TenantView);
  },
};

export const tenantList: ApiCommand = {
  kind: 'api',
  words: ['tenant', 'list'],
  summary: 'List every tenant with its spend and status (all pages).',
  args: [],
  options: {},
  examples: ['budget-gateway tenant list', 'budget-gateway tenant list --json | jq -r \'.[] | select(.status == "blocked") | .tenant_id\''],
  async run(api) {
    const tenants: TenantView[] = [];
    let cursor: string | null = null;
    do {
      const page = (await api.get(`/tenants?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)) as {
        data: TenantView[];
        next_cursor: string | null;
      };
      tenants.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor !== null);
    const rows = tenants.map((t) => [
      t.tenant_id,
      t.status,
      usd(t.spend),
      usd(t.effective_budget),
      percent(t.utilization),
      t.budget_reset_at,
      t.override ? `${usd(t.override.override_amount)} until ${t.override.expires_at}` : '-',
    ]);
    const columns = ['TENANT', 'STATUS', 'SPEND', 'BUDGET', 'USED', 'RESETS AT', 'OVERRIDE'];
    return { json: tenants, text: tenants.length === 0 ? 'No tenants.' : table(columns, rows) };
  },
};

export function tenantOutput(view: TenantView): Output {
  return {
    json: view,
    text: record([
      ['tenant', view.tenant_id],
      ['name', view.name ?? '-'],
      ['status', view.status],
      ['spend', `${usd(view.spend)} of ${usd(view.effective_budget)} (${percent(view.utilization)})`],
      ['in flight', usd(view.reserved)],
      ['budget', `${usd(view.max_budget)} per ${view.budget_duration}`],
      ['thresholds', `alert at ${view.alert_threshold}%, blocked at ${view.grace_threshold}%`],
      ['period', `${view.period_started_at} to ${view.budget_reset_at}`],
      ['override', view.override ? `${usd(view.override.override_amount)} until ${view.override.expires_at}: ${view.override.reason}` : '-'],
    ]),
  };
}
