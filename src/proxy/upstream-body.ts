import type { RequestBody } from './request-body.js';

/** Streaming routes whose usage arrives only if `stream_options.include_usage` is set. */
const USAGE_ON_REQUEST = new Set(['/v1/chat/completions', '/v1/completions']);

export interface UpstreamBody {
  readonly body: RequestBody;
  /** The model named in a JSON body. */
  readonly model: string | undefined;
  /** The parsed JSON body, for the estimate (undefined for uploads). */
  readonly json: unknown;
  /** The gateway added include_usage: the usage-only event is not the client's to see. */
  readonly stripUsageEvent: boolean;
}

/**
 * The body as LiteLLM gets it. A streamed chat or completions request is made to report its
 * usage (CONTRACT section 4), since a stream's cost is otherwise unknown; everything else is sent
 * as the client wrote it, byte for byte.
 */
export function upstreamBody(routeLabel: string, body: RequestBody): UpstreamBody {
  if (body.kind !== 'json') return { body, model: undefined, json: undefined, stripUsageEvent: false };
  const json = body.json;
  const fields = typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined;
  const model = typeof fields?.model === 'string' ? fields.model : undefined;
  if (!fields || fields.stream !== true || !USAGE_ON_REQUEST.has(routeLabel)) return { body, model, json, stripUsageEvent: false };
  const options = fields.stream_options;
  const asked = typeof options === 'object' && options !== null && (options as Record<string, unknown>).include_usage === true;
  if (asked) return { body, model, json, stripUsageEvent: false };
  const withUsage = { ...fields, stream_options: { ...(typeof options === 'object' && options !== null ? options : {}), include_usage: true } };
  return {
    body: { kind: 'json', bytes: Buffer.from(JSON.stringify(withUsage)), json: withUsage },
    model,
    json,
    stripUsageEvent: true,
  };
}
