import { request } from 'undici';

export interface Target {
  readonly url: string;
  readonly key: string;
  readonly tenantId: string;
}

export interface Sent {
  readonly tenantId: string;
  /** The HTTP status, or 0 when the connection failed (a killed replica). */
  readonly status: number;
  readonly requestId: string | undefined;
  readonly code: string | undefined;
  /** The answer's `x-budget-limit` (the effective budget it was judged against, USD), if any. */
  readonly budgetLimit?: string;
  readonly doneAt: number;
}

const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'load' }], max_tokens: 5 });

/** One chat request; a refused or cut connection is an outcome (status 0), not an exception. */
export async function sendChat(target: Target, headers: Record<string, string> = {}): Promise<Sent> {
  try {
    const res = await request(`${target.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${target.key}`, 'content-type': 'application/json', ...headers },
      body: chat,
      headersTimeout: 15_000,
      bodyTimeout: 15_000,
    });
    const text = await res.body.text();
    const code = res.statusCode >= 400 ? (JSON.parse(text) as { error?: { code?: string } }).error?.code : undefined;
    return {
      tenantId: target.tenantId,
      status: res.statusCode,
      requestId: res.headers['x-request-id'] as string | undefined,
      code,
      budgetLimit: res.headers['x-budget-limit'] as string | undefined,
      doneAt: Date.now(),
    };
  } catch {
    return { tenantId: target.tenantId, status: 0, requestId: undefined, code: undefined, doneAt: Date.now() };
  }
}

/**
 * Continuous load: `workers` loops each sending one request after another to `pick(n)` until
 * stopped. `stop` waits for the requests under way and returns every outcome.
 */
export function startLoad(pick: (n: number) => Target, workers: number, headers: Record<string, string> = {}) {
  const sent: Sent[] = [];
  let running = true;
  let n = 0;
  const loops = Array.from({ length: workers }, async () => {
    while (running) sent.push(await sendChat(pick(n++), headers));
  });
  return {
    sent,
    async stop(): Promise<Sent[]> {
      running = false;
      await Promise.all(loops);
      return sent;
    },
  };
}

/** Outcomes by status, e.g. { 200: 140, 402: 12 }, for assertion messages. */
export function tally(sent: readonly Sent[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const s of sent) counts[s.status] = (counts[s.status] ?? 0) + 1;
  return counts;
}
