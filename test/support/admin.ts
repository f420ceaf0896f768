import { expect } from 'vitest';
import { request } from 'undici';
import { TEST_ADMIN_KEY } from './gateway.js';

export interface AdminAnswer<T = any> {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: T;
}

/** The admin API over real HTTP, as curl or the CLI would call it. */
export function adminApi(baseUrl: string, adminKey: string = TEST_ADMIN_KEY) {
  async function call<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<AdminAnswer<T>> {
    const res = await request(`${baseUrl}/admin${path}`, {
      method: method as 'GET',
      headers: {
        authorization: `Bearer ${adminKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, body: text === '' ? undefined : JSON.parse(text) };
  }
  return {
    call,
    get: <T = any>(path: string) => call<T>('GET', path),
    put: <T = any>(path: string, body: unknown) => call<T>('PUT', path, body),
    post: <T = any>(path: string, body: unknown = {}) => call<T>('POST', path, body),
    delete: <T = any>(path: string) => call<T>('DELETE', path),
  };
}

export type AdminApi = ReturnType<typeof adminApi>;

/** The contract's error shape (CONTRACT section 5), for `toMatchObject`. */
export function contractError(code: string, type: string) {
  return { error: { message: expect.any(String), type, param: null, code } };
}
