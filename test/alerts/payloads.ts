/**
 * What LiteLLM POSTs to WEBHOOK_URL for a key that crossed its budget: `WebhookEvent.model_dump_json()`
 * (litellm/proxy/_types.py), every `CallInfo` field present, nulls included, built the way
 * `_virtual_key_max_budget_check` (litellm/proxy/auth/auth_checks.py) fills it and
 * `SlackAlerting.budget_alerts` words `event_message`. `token` is LiteLLM's `hash_token(key)`:
 * the SHA-256 hex of the virtual key.
 */
export function litellmKeyBudgetAlert(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    spend: 10.000231,
    max_budget: 10.0,
    soft_budget: null,
    token: '0'.repeat(64),
    customer_id: null,
    user_id: 'default_user_id',
    team_id: null,
    team_alias: null,
    user_email: null,
    key_alias: 'acme-prod',
    projected_exceeded_date: null,
    projected_spend: null,
    event_group: 'key',
    event: 'budget_crossed',
    event_message: 'Key Budget: Budget Crossed\n Total Budget:`10.0`',
    ...overrides,
  };
}
