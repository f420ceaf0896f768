import type { Context } from 'hono';
import { z } from 'zod';
import { parseDuration, parseOverrideDuration } from '../budget/duration.js';
import { usdToMicros } from '../budget/money.js';
import { GatewayError, type FieldProblem } from '../errors.js';

/**
 * Admin input (CONTRACT section 6): zod schemas that turn USD into micros and durations into the
 * domain's types, and one mapping from zod's issues to the 422 `details` list, so every route
 * reports bad fields the same way.
 */

/** USD with at most 6 decimals, as integer micro-dollars. */
const usd = z.number().transform((value, ctx) => {
  try {
    return usdToMicros(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as RangeError).message });
    return z.NEVER;
  }
});

/** A percentage with at most 2 decimals (the budget lines are computed in basis points). */
const percent = z.number().refine((v) => Number.isFinite(v) && Math.round(v * 100) / 100 === v, {
  message: 'must have at most 2 decimals',
});

const budgetDuration = z.string().refine((text) => attempt(() => parseDuration(text)), {
  message: 'must look like 12h, 30d, 2w or 1mo (a whole number >= 1, then h, d, w or mo)',
});

export const tenantIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be 1-128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit');

const alertThreshold = percent.refine((v) => v > 0 && v <= 100, 'must be > 0 and <= 100');
/** Several alert thresholds (CONTRACT section 11), kept ascending: one alert each per period. */
const alertThresholds = z
    .array(alertThreshold)
    .min(1)
    .max(10)
    .refine((list) => new Set(list).size === list.length, 'must not repeat a threshold')
    .transform((list) => [...list].sort((a, b) => a - b));
/** A whole count >= 0, or null for "no limit". */
const countLimit = z.number().int('must be a whole number').min(0).max(Number.MAX_SAFE_INTEGER).nullable();

export const tenantBody = z.strictObject({
  max_budget: usd.refine((micros) => micros >= 0, 'must be >= 0'),
  alert_threshold: alertThreshold.optional(),
  alert_thresholds: alertThresholds.nullable().optional(),
  model_budgets: z
    .record(z.string().min(1).max(200), z.strictObject({ max_budget: usd }))
    .refine((budgets) => Object.keys(budgets).length <= 100, 'at most 100 models')
    .nullable()
    .optional(),
  max_tokens: countLimit.optional(),
  max_requests: countLimit.optional(),
  grace_threshold: percent.refine((v) => v >= 100, 'must be >= 100').optional(),
  budget_duration: budgetDuration.optional(),
  budget_reset_at: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time with a zone, e.g. 2026-12-01T00:00:00Z' }).optional(),
  name: z.string().max(200).nullable().optional(),
  upstream_key: z.string().min(1).max(4096).nullable().optional(),
});

export const keyBody = z.strictObject({
  key: z.string().min(8, 'must be at least 8 characters').max(4096).optional(),
  /** The key's own budget within its tenant's period (CONTRACT section 11). */
  max_budget: usd.optional(),
});

export const globalBody = z.strictObject({
  max_budget: usd,
  budget_duration: budgetDuration.optional(),
  alert_threshold: alertThreshold.optional(),
  alert_thresholds: alertThresholds.optional(),
  grace_threshold: percent.refine((v) => v >= 100, 'must be >= 100').optional(),
});

export const overrideBody = z.strictObject({
  override_amount: usd.refine((micros) => micros > 0, 'must be > 0'),
  duration: z.string().refine((text) => attempt(() => parseOverrideDuration(text)), {
    message: 'must look like 24h, 7d or 2w (a whole number >= 1, then h, d or w)',
  }),
  reason: z.string().trim().min(10, 'must be at least 10 characters').max(1000),
});

const limit = (max: number, fallback: number) => z.coerce.number().int().min(1).max(max).default(fallback);
const isoTime = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time with a zone' });

export const listQuery = z.object({ limit: limit(500, 50), cursor: z.string().min(1).optional() });
export const usageQuery = z.object({ limit: limit(1000, 100), from: isoTime.optional(), to: isoTime.optional() });
export const notificationQuery = z.object({
  limit: limit(1000, 100),
  status: z.enum(['pending', 'delivered', 'failed']).optional(),
});
export const auditQuery = z.object({
  limit: limit(1000, 100),
  tenant_id: z.string().min(1).optional(),
  event: z.string().min(1).optional(),
});

/**
 * The JSON body, parsed by `schema`; 400 for malformed JSON, 422 naming every bad field. No body
 * at all reads as `{}`, so `curl -X POST` works where every field is optional.
 */
export async function readBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  let body: unknown;
  try {
    const text = await c.req.text();
    body = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    throw new GatewayError('invalid_json', 'The request body is not valid JSON.');
  }
  return check(schema, body, '');
}

export function readQuery<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  return check(schema, c.req.query(), 'query.');
}

export function readTenantId(c: Context): string {
  return check(tenantIdSchema, c.req.param('tenant_id'), 'tenant_id');
}

function check<S extends z.ZodType>(schema: S, input: unknown, prefix: string): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const details: FieldProblem[] = parsed.error.issues.map((issue) => ({
    path: prefix + issue.path.map(String).join('.') || prefix.replace(/\.$/, '') || '(body)',
    message: issue.message,
  }));
  const summary = details.map((d) => `${d.path}: ${d.message}`).join('; ');
  throw new GatewayError('invalid_field', `Invalid request: ${summary}`, {}, details);
}

function attempt(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch {
    return false;
  }
}
