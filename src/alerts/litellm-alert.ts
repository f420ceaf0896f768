import { z } from 'zod';
import { usdToNearestMicros } from '../budget/money.js';
import { GatewayError, type FieldProblem } from '../errors.js';

/**
 * LiteLLM's budget alert as the gateway keeps it. LiteLLM POSTs `WebhookEvent.model_dump_json()`
 * (litellm/proxy/_types.py): `CallInfo`'s fields `spend` (float), `max_budget`, `soft_budget`,
 * `token` ("Hashed value of that key": `hash_token`, the SHA-256 hex of the key, the same as our
 * api_keys.key_hash), `customer_id`, `user_id`, `team_id`, `team_alias`, `user_email`,
 * `key_alias`, `projected_exceeded_date`, `projected_spend`, `event_group` (newer releases add
 * `organization_id`), plus `event` and `event_message`. Only `event` and `spend` are required
 * (CONTRACT section 7); the rest is kept as sent, so a newer LiteLLM's extra fields survive.
 */

export interface LitellmAlert {
  readonly event: string;
  /** Who the alert is about (see `alertSubject`): with `event`, the de-duplication key. */
  readonly subject: string;
  readonly spendMicros: number;
  readonly maxBudgetMicros: number | null;
  /** LiteLLM's `token`: the SHA-256 hex of the key, which maps the alert to our tenant. */
  readonly keyHash: string | null;
  readonly eventGroup: string | null;
  readonly keyAlias: string | null;
  /** The body as LiteLLM sent it. */
  readonly payload: Record<string, unknown>;
}

/** LiteLLM sends floats with any number of decimals: rounded to the nearest micro-dollar. */
const usd = z.number().transform((value, ctx) => {
  try {
    return usdToNearestMicros(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as RangeError).message });
    return z.NEVER;
  }
});

// Empty strings count as absent: they name nobody.
const optionalId = z
  .string()
  .nullish()
  .transform((value) => (value ? value : null));

const alertBody = z.looseObject({
  event: z.string().min(1).max(200),
  spend: usd,
  max_budget: usd.nullish(),
  event_group: optionalId,
  token: optionalId,
  team_id: optionalId,
  user_id: optionalId,
  customer_id: optionalId,
  organization_id: optionalId,
  key_alias: optionalId,
});

type AlertBody = z.output<typeof alertBody>;

/** The alert in `json`; 422 `invalid_field` naming every bad field. */
export function readLitellmAlert(json: unknown): LitellmAlert {
  const parsed = alertBody.safeParse(json);
  if (!parsed.success) {
    const details: FieldProblem[] = parsed.error.issues.map((issue) => ({
      path: issue.path.map(String).join('.') || '(body)',
      message: issue.message,
    }));
    const summary = details.map((d) => `${d.path}: ${d.message}`).join('; ');
    throw new GatewayError('invalid_field', `Invalid LiteLLM alert: ${summary}`, {}, details);
  }
  const body = parsed.data;
  return {
    event: body.event,
    subject: alertSubject(body),
    spendMicros: body.spend,
    maxBudgetMicros: body.max_budget ?? null,
    keyHash: body.token,
    eventGroup: body.event_group,
    keyAlias: body.key_alias,
    // The schema accepted it, so it is a JSON object; kept as sent, unknown fields included.
    payload: json as Record<string, unknown>,
  };
}

/** An alert that names nobody is about the proxy as a whole (LiteLLM's "default_id"). */
const PROXY_SUBJECT = 'proxy';

type Names = Pick<AlertBody, 'event_group' | 'token' | 'team_id' | 'user_id' | 'customer_id' | 'organization_id'>;

/**
 * Whose budget the alert is about, as LiteLLM itself keys its alert cache (`get_id` in
 * litellm/integrations/SlackAlerting/budget_alert_types.py): a team's, user's, customer's or
 * organisation's alert by that id, the proxy's by one constant, anything else by the key. The
 * `event_group` decides first because LiteLLM fills `token` with whichever key made the request
 * that crossed the line, also for team and proxy budgets; keyed by token, those would be stored
 * once per key instead of once per team. Prefixed, so a team and a user with one id stay apart.
 */
export function alertSubject(body: Names): string {
  const named = subjectOfGroup(body);
  if (named) return named;
  if (body.token) return `key:${body.token}`;
  if (body.team_id) return `team:${body.team_id}`;
  if (body.user_id) return `user:${body.user_id}`;
  if (body.customer_id) return `customer:${body.customer_id}`;
  return PROXY_SUBJECT;
}

// LiteLLM's Litellm_EntityType values, and the older WebhookEvent literals (internal_user, customer).
function subjectOfGroup(body: Names): string | null {
  switch (body.event_group) {
    case 'team':
      return body.team_id && `team:${body.team_id}`;
    case 'user':
    case 'internal_user':
      return body.user_id && `user:${body.user_id}`;
    case 'customer':
    case 'end_user':
      return body.customer_id && `customer:${body.customer_id}`;
    case 'organization':
      return body.organization_id && `organization:${body.organization_id}`;
    case 'proxy':
      return PROXY_SUBJECT;
    default:
      return null;
  }
}
