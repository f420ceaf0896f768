import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhookBody } from '../../src/alerts/litellm-webhook.js';
import { listAudit } from '../../src/db/audit.js';
import { hashKey } from '../../src/db/keys.js';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { sample, startTestGateway, type TestGateway } from '../support/gateway.js';
import { litellmKeyBudgetAlert } from './payloads.js';
import { alertAudits, storedAlerts } from './records.js';

const SECRET = `whsec-${randomBytes(16).toString('hex')}`;
const PATH = '/api/v1/budget-alerts';
const MINUTE = 60_000;

interface Sent {
  readonly status: number;
  readonly json: unknown;
}

interface Auth {
  readonly signature?: string;
  readonly token?: string;
  /** Send the body chunked (no content-length), as a stream. */
  readonly chunked?: boolean;
}

async function post(gateway: TestGateway, body: string, auth: Auth = {}): Promise<Sent> {
  const query = auth.token === undefined ? '' : `?token=${encodeURIComponent(auth.token)}`;
  const res = await request(`${gateway.url}${PATH}${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth.signature ? { 'x-webhook-signature': auth.signature } : {}) },
    body: auth.chunked ? Readable.from([body.slice(0, 10), body.slice(10)]) : body,
  });
  return { status: res.statusCode, json: await res.body.json() };
}

const signed = (body: string) => ({ signature: signWebhookBody(SECRET, Buffer.from(body)) });
const freshToken = () => randomBytes(32).toString('hex');
/** A LiteLLM key budget alert about a key nobody registered here, as JSON text. */
const alertJson = (overrides: Record<string, unknown> = {}) => JSON.stringify(litellmKeyBudgetAlert({ token: freshToken(), ...overrides }));
const subjectOf = (json: string) => `key:${(JSON.parse(json) as { token: string }).token}`;
const ACCEPTED = { status: 200, json: { status: 'accepted' } };

const refused = (code: string, type: string) => ({
  error: { message: expect.any(String), type, param: null, code },
});

let sim: SimLiteLLM;
let gateway: TestGateway;
let clock = Date.now();

beforeAll(async () => {
  sim = await startSimLiteLLM();
  gateway = await startTestGateway({ LITELLM_BASE_URL: sim.url, LITELLM_WEBHOOK_SECRET: SECRET }, { now: () => clock });
});
afterAll(async () => {
  await gateway?.shutdown();
  await sim?.close();
});

describe('POST /api/v1/budget-alerts authenticates the sender', () => {
  it('accepts a body signed with x-webhook-signature, and stores and audits it once', async () => {
    const body = alertJson({ spend: 10.000231, max_budget: 10 });
    expect(await post(gateway, body, signed(body))).toEqual(ACCEPTED);

    const [row, ...more] = await storedAlerts(gateway.db, subjectOf(body));
    expect(more).toEqual([]);
    expect(row).toMatchObject({ event: 'budget_crossed', spendMicros: 10_000_231, payload: JSON.parse(body) });
    expect(row!.receivedAt.getTime()).toBe(clock);
    const audits = await alertAudits(gateway.db, subjectOf(body));
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({
      tenantId: null,
      actor: 'litellm',
      details: { event: 'budget_crossed', subject: subjectOf(body), spend: 10.000231, max_budget: 10, tenant_id: null },
    });
  });

  it('accepts the secret as ?token= (how LiteLLM, which cannot sign, is configured)', async () => {
    const body = alertJson();
    expect(await post(gateway, body, { token: SECRET })).toEqual(ACCEPTED);
    expect(await storedAlerts(gateway.db, subjectOf(body))).toHaveLength(1);
  });

  it('accepts a signed body sent chunked, without content-length', async () => {
    const body = alertJson();
    expect(await post(gateway, body, { ...signed(body), chunked: true })).toEqual(ACCEPTED);
    expect(await storedAlerts(gateway.db, subjectOf(body))).toHaveLength(1);
  });

  it.each([
    ['a wrong signature', () => ({ signature: `sha256=${'0'.repeat(64)}` })],
    ['the signature of another body (a tampered body)', (body: string) => signed(body.replace('budget_crossed', 'threshold_crossed'))],
    ['a signature keyed by another secret', (body: string) => ({ signature: signWebhookBody(`${SECRET}-old`, Buffer.from(body)) })],
    ['a wrong token', () => ({ token: `${SECRET}-old` })],
    ['neither signature nor token', () => ({})],
  ])('refuses %s with 401 and stores nothing', async (_, credentials) => {
    const body = alertJson();
    const sent = await post(gateway, body, credentials(body));
    expect(sent).toEqual({ status: 401, json: refused('invalid_webhook_secret', 'authentication_error') });
    expect(await storedAlerts(gateway.db, subjectOf(body))).toEqual([]);
    expect(await alertAudits(gateway.db, subjectOf(body))).toEqual([]);
  });

  it('refuses an unauthenticated sender before reading its body: malformed JSON without credentials is 401, not 400', async () => {
    expect((await post(gateway, '{"event":')).status).toBe(401);
  });
});

describe('POST /api/v1/budget-alerts validates the alert', () => {
  it('answers malformed JSON with 400 invalid_json', async () => {
    const body = '{"event": "budget_crossed", "spend": ';
    expect(await post(gateway, body, signed(body))).toEqual({ status: 400, json: refused('invalid_json', 'invalid_request_error') });
  });

  it.each([
    ['event missing', { spend: 1.5 }, ['event']],
    ['spend missing', { event: 'budget_crossed' }, ['spend']],
    ['spend not a number', { event: 'budget_crossed', spend: '1.5' }, ['spend']],
    ['both missing', { token: 'abc' }, ['event', 'spend']],
  ])('answers %s with 422 invalid_field and details naming the fields, storing nothing', async (_, fields, paths) => {
    const token = freshToken();
    const body = JSON.stringify({ ...fields, token });
    const sent = await post(gateway, body, { token: SECRET });
    expect(sent.status).toBe(422);
    expect(sent.json).toEqual({
      error: {
        ...refused('invalid_field', 'validation_error').error,
        details: paths.map((path) => ({ path, message: expect.any(String) })),
      },
    });
    expect(await storedAlerts(gateway.db, `key:${token}`)).toEqual([]);
  });

  it.each([
    ['with content-length', false],
    ['chunked', true],
  ])('answers a body over 64 KiB (%s) with 413 request_too_large, storing nothing', async (_, chunked) => {
    const body = alertJson({ event_message: 'x'.repeat(70 * 1024) });
    const sent = await post(gateway, body, { token: SECRET, chunked });
    expect(sent).toEqual({ status: 413, json: refused('request_too_large', 'invalid_request_error') });
    expect(await storedAlerts(gateway.db, subjectOf(body))).toEqual([]);
  });
});

describe('POST /api/v1/budget-alerts de-duplicates per event and key or team for an hour', () => {
  it('stores the same alert once within the hour (both answered 200), and again once the hour has passed', async () => {
    const body = alertJson();
    const subject = subjectOf(body);
    const first = clock;
    expect(await post(gateway, body, { token: SECRET })).toEqual(ACCEPTED);
    expect(await post(gateway, body, signed(body))).toEqual(ACCEPTED);
    clock += 59 * MINUTE;
    expect(await post(gateway, body, { token: SECRET })).toEqual(ACCEPTED);
    expect(await storedAlerts(gateway.db, subject)).toHaveLength(1);

    clock += MINUTE;
    expect(await post(gateway, body, { token: SECRET })).toEqual(ACCEPTED);
    const rows = await storedAlerts(gateway.db, subject);
    expect(rows.map((r) => r.receivedAt.getTime())).toEqual([first, first + 60 * MINUTE]);
    expect(await alertAudits(gateway.db, subject)).toHaveLength(2);
  });

  it('stores one of 20 copies sent at once', async () => {
    const body = alertJson();
    const sent = await Promise.all(Array.from({ length: 20 }, () => post(gateway, body, { token: SECRET })));
    expect(sent).toEqual(Array.from({ length: 20 }, () => ACCEPTED));
    expect(await storedAlerts(gateway.db, subjectOf(body))).toHaveLength(1);
    expect(await alertAudits(gateway.db, subjectOf(body))).toHaveLength(1);
  });

  it('stores a team budget alert once per team, whichever of its keys tripped it', async () => {
    const team = `team-${randomUUID()}`;
    for (const token of [freshToken(), freshToken()]) {
      const body = alertJson({ token, team_id: team, event_group: 'team', event_message: 'Team Budget: Budget Crossed' });
      expect(await post(gateway, body, { token: SECRET })).toEqual(ACCEPTED);
    }
    expect(await storedAlerts(gateway.db, `team:${team}`)).toHaveLength(1);
  });
});

describe('POST /api/v1/budget-alerts maps LiteLLM keys to tenants', () => {
  it("audits a LiteLLM key budget alert under the tenant that registered the key (LiteLLM's token is the key's SHA-256)", async () => {
    const key = `sk-${randomBytes(12).toString('base64url')}`;
    const tenant = await gateway.createTenant({}, { key });
    const body = JSON.stringify(litellmKeyBudgetAlert({ token: hashKey(key), spend: 0.1 + 0.2, max_budget: 0.3 }));
    expect(await post(gateway, body, { token: SECRET })).toEqual(ACCEPTED);

    const audits = await listAudit(gateway.db, { tenantId: tenant.tenantId, event: 'litellm_alert_received', limit: 10 });
    expect(audits).toHaveLength(1);
    expect(audits[0]!.details).toEqual({
      event: 'budget_crossed',
      subject: `key:${hashKey(key)}`,
      spend: 0.3,
      max_budget: 0.3,
      tenant_id: tenant.tenantId,
      key_id: tenant.keyId,
      event_group: 'key',
      key_alias: 'acme-prod',
    });
    expect((await storedAlerts(gateway.db, `key:${hashKey(key)}`))[0]!.spendMicros).toBe(300_000);
  });
});

describe('POST /api/v1/budget-alerts is the gateway’s own route', () => {
  it('is counted under its route template and never reaches LiteLLM', async () => {
    const before = await gateway.metrics();
    const body = alertJson();
    await post(gateway, body, { token: SECRET });
    await post(gateway, body, { token: 'wrong' });
    const after = await gateway.metrics();
    const delta = (status: number) =>
      sample(after, `budget_gateway_requests_total{route="${PATH}",method="POST",status="${status}"}`) -
      sample(before, `budget_gateway_requests_total{route="${PATH}",method="POST",status="${status}"}`);
    expect([delta(200), delta(401)]).toEqual([1, 1]);
    expect(sim.requests.filter((r) => r.path.includes('budget-alerts'))).toEqual([]);
  });
});

describe('POST /api/v1/budget-alerts without LITELLM_WEBHOOK_SECRET', () => {
  let unconfigured: TestGateway;
  beforeAll(async () => {
    unconfigured = await startTestGateway({ LITELLM_BASE_URL: sim.url });
  });
  afterAll(async () => {
    await unconfigured?.shutdown();
  });

  it.each([
    ['an empty token', () => ({ token: '' })],
    ['any token', () => ({ token: SECRET })],
    ['a signature keyed by the empty secret', (body: string) => ({ signature: signWebhookBody('', Buffer.from(body)) })],
    ['no credentials', () => ({})],
  ])('refuses %s with 401 saying the webhook is not configured, storing nothing', async (_, credentials) => {
    const body = alertJson();
    const sent = await post(unconfigured, body, credentials(body));
    expect(sent).toEqual({ status: 401, json: refused('invalid_webhook_secret', 'authentication_error') });
    expect((sent.json as { error: { message: string } }).error.message).toMatch(/not configured/);
    expect(await storedAlerts(unconfigured.db, subjectOf(body))).toEqual([]);
  });
});
