import type { TenantView } from '../../admin/tenant-view.js';
import type { ApiCommand } from '../command.js';
import { tenantOutput } from './tenants.js';

/** `reset`: a new period for a tenant now (CONTRACT section 6, `budget-reset`). */
export const reset: ApiCommand = {
  kind: 'api',
  words: ['reset'],
  summary: 'Start a new period for a tenant now: its spend goes back to 0 on every replica.',
  args: ['tenant_id'],
  options: {},
  examples: ['budget-gateway reset acme'],
  async run(api, { args }) {
    return tenantOutput((await api.post(`/tenants/${encodeURIComponent(args.tenant_id!)}/budget-reset`)) as TenantView);
  },
};
