import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { TEST_ADMIN_KEY, withSimAndGateway } from '../support/gateway.js';

/** GET /admin/ui over real HTTP: who may load it, what it may load, and what it opens (CONTRACT sections 6 and 12). */

const suite = withSimAndGateway();

async function get(path: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await request(`${suite.gateway.url}${path}`, { method: method as 'GET', headers });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

const nonceOf = (csp: string, directive: string) => new RegExp(`${directive} 'nonce-([A-Za-z0-9+/=]+)'`).exec(csp)?.[1];

describe('GET /admin/ui', () => {
  it('is served without the admin key, with or without a wrong one', async () => {
    const callers: Record<string, string>[] = [{}, { authorization: 'Bearer not-the-admin-key' }];
    for (const headers of callers) {
      const page = await get('/admin/ui', headers);
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=UTF-8');
      expect(page.body).toMatch(/^<!doctype html>/);
    }
  });

  it('holds no data and no key: the same document whoever asks, nonces aside', async () => {
    const anonymous = await get('/admin/ui');
    const admin = await get('/admin/ui', { authorization: `Bearer ${TEST_ADMIN_KEY}` });
    const withoutNonces = (html: string) => html.replace(/nonce="[^"]+"/g, 'nonce=""');
    expect(withoutNonces(admin.body)).toBe(withoutNonces(anonymous.body));
    expect(admin.body).not.toContain(TEST_ADMIN_KEY);
    expect(admin.body).not.toContain(suite.tenant.tenantId);
  });

  it('loads nothing from outside the gateway: no external script, style, font or image', async () => {
    const { body } = await get('/admin/ui');
    expect(body).not.toMatch(/<script[^>]*\bsrc=/i);
    expect(body).not.toMatch(/<link[^>]*rel="?stylesheet/i);
    expect(body).not.toMatch(/\b(src|href)="(https?:)?\/\//i);
    expect(body).not.toMatch(/@import|url\(/i);
  });

  it('lets only its own inline script and style run, under a fresh nonce per answer', async () => {
    const first = await get('/admin/ui');
    const csp = String(first.headers['content-security-policy']);
    expect(csp).toMatch(/(^|; )default-src 'none'(;|$)/);
    expect(csp).toMatch(/(^|; )connect-src 'self'(;|$)/);
    expect(csp).toMatch(/(^|; )frame-ancestors 'none'(;|$)/);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
    const nonce = nonceOf(csp, 'script-src');
    expect(nonce).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(nonceOf(csp, 'style-src')).toBe(nonce);
    const tags = [...first.body.matchAll(/<(script|style)\b([^>]*)>/g)];
    expect(tags.map((tag) => tag[1])).toEqual(['style', 'script']);
    for (const tag of tags) expect(tag[2]).toBe(` nonce="${nonce}"`);

    const second = await get('/admin/ui');
    expect(nonceOf(String(second.headers['content-security-policy']), 'script-src')).not.toBe(nonce);
  });

  it('cannot be framed, cached or leak its URL in a Referer', async () => {
    const { headers } = await get('/admin/ui');
    expect(headers).toMatchObject({
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
  });

  it('opens nothing else: every other /admin route still answers 401 without the key', async () => {
    const others: [string, string][] = [
      ['GET', '/admin/ui/'],
      ['GET', '/admin/ui/app.js'],
      ['GET', '/admin/uix'],
      ['POST', '/admin/ui'],
      ['GET', '/admin/tenants'],
      ['GET', '/admin/audit'],
      ['PUT', '/admin/tenants/ui'],
      ['POST', `/admin/tenants/${suite.tenant.tenantId}/budget-reset`],
    ];
    for (const [method, path] of others) {
      const answer = await get(path, {}, method);
      expect({ method, path, status: answer.status }).toEqual({ method, path, status: 401 });
    }
  });
});
