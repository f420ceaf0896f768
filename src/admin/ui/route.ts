import { randomBytes } from 'node:crypto';
import type { Handler } from 'hono';
import type { AppEnv } from '../../app-env.js';
import { adminPageHtml } from './page.js';

/**
 * `GET /admin/ui` (CONTRACT section 12). Served without the admin key: the page holds no data, and
 * every call it makes goes to the admin API with the key the admin types in. A fresh nonce per
 * answer lets exactly the page's own inline style and script run; nothing else may load, frame
 * the page (clickjacking of the reset button) or learn its URL from a Referer.
 */
export function adminPage(): Handler<AppEnv> {
  return function serveAdminPage(c) {
    const nonce = randomBytes(16).toString('base64');
    return c.html(adminPageHtml(nonce), 200, adminPageHeaders(nonce));
  };
}

function adminPageHeaders(nonce: string): Record<string, string> {
  const policy = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    // The empty favicon is a data: URL, so the browser asks the gateway for no /favicon.ico.
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return {
    'content-security-policy': policy,
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'cross-origin-opener-policy': 'same-origin',
  };
}
