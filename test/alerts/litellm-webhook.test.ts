import { describe, expect, it } from 'vitest';
import { authenticateWebhook, signWebhookBody } from '../../src/alerts/litellm-webhook.js';

const SECRET = 'whsec-0123456789abcdef';
const body = Buffer.from('{"event":"budget_crossed","spend":10.5}');
const other = Buffer.from('{"event":"budget_crossed","spend":0.01}');
const signed = signWebhookBody(SECRET, body);

describe('signWebhookBody', () => {
  it('is sha256=<hex HMAC-SHA256 of the body> (RFC 4231 test case 2)', () => {
    expect(signWebhookBody('Jefe', Buffer.from('what do ya want for nothing?'))).toBe(
      'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });
});

describe('authenticateWebhook', () => {
  it.each([
    ['the body signature', { signature: signed, token: undefined }],
    ['the signature in upper-case hex, with stray spaces', { signature: ` ${signed.toUpperCase()} `, token: undefined }],
    ['the secret as ?token=', { signature: undefined, token: SECRET }],
    ['the right token beside a wrong signature (either form proves the secret)', { signature: signWebhookBody('x', body), token: SECRET }],
  ])('accepts %s', (_, credentials) => {
    expect(authenticateWebhook(SECRET, body, credentials)).toBe('accepted');
  });

  it.each([
    ['no credentials at all', { signature: undefined, token: undefined }],
    ['empty credentials', { signature: '', token: '' }],
    ['the signature of another body (a tampered body)', { signature: signWebhookBody(SECRET, other), token: undefined }],
    ['a signature made with another secret', { signature: signWebhookBody(`${SECRET}x`, body), token: undefined }],
    ['the bare hex without the sha256= prefix', { signature: signed.slice('sha256='.length), token: undefined }],
    ['a truncated signature', { signature: signed.slice(0, -2), token: undefined }],
    ['the secret itself as the signature', { signature: SECRET, token: undefined }],
    ['a wrong token', { signature: undefined, token: 'not-the-secret' }],
    ['a prefix of the secret as token', { signature: undefined, token: SECRET.slice(0, -1) }],
    ['the secret plus more as token', { signature: undefined, token: `${SECRET}0` }],
    ['a signature passed as token', { signature: undefined, token: signed }],
  ])('rejects %s', (_, credentials) => {
    expect(authenticateWebhook(SECRET, body, credentials)).toBe('rejected');
  });

  it('compares credentials of any length without throwing (digests of equal length, not the raw values)', () => {
    // timingSafeEqual throws on buffers of different lengths; hashing first is what avoids both
    // that exception and the early exit on a length mismatch.
    for (const token of ['x', 'y'.repeat(10_000), '🙂'.repeat(40)]) {
      expect(authenticateWebhook(SECRET, body, { signature: token, token })).toBe('rejected');
    }
  });

  it('accepts nothing while no secret is configured, not even an empty token or a signature keyed by ""', () => {
    expect(authenticateWebhook(undefined, body, { signature: undefined, token: undefined })).toBe('not_configured');
    expect(authenticateWebhook(undefined, body, { signature: signWebhookBody('', body), token: '' })).toBe('not_configured');
  });
});
