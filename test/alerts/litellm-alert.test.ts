import { describe, expect, it } from 'vitest';
import { alertSubject, readLitellmAlert } from '../../src/alerts/litellm-alert.js';
import { usdToNearestMicros } from '../../src/budget/money.js';
import { GatewayError } from '../../src/errors.js';
import { litellmKeyBudgetAlert } from './payloads.js';

const TOKEN = 'a'.repeat(64);
const none = { event_group: null, token: null, team_id: null, user_id: null, customer_id: null, organization_id: null };

function refusal(json: unknown): GatewayError {
  try {
    readLitellmAlert(json);
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('the alert was accepted');
}

describe('readLitellmAlert', () => {
  it('reads a LiteLLM key budget alert, keeping the body as sent', () => {
    const payload = litellmKeyBudgetAlert({ token: TOKEN, spend: 10.000231, max_budget: 10 });
    expect(readLitellmAlert(payload)).toEqual({
      event: 'budget_crossed',
      subject: `key:${TOKEN}`,
      spendMicros: 10_000_231,
      maxBudgetMicros: 10_000_000,
      keyHash: TOKEN,
      eventGroup: 'key',
      keyAlias: 'acme-prod',
      payload,
    });
  });

  it.each([
    [0.1 + 0.2, 300_000],
    [0.00012345678, 123],
    [0.0000005, 1],
    [0.00000049, 0],
    [1234.5678901, 1_234_567_890],
    [0, 0],
  ])('rounds spend %d USD to %d micro-dollars rather than refusing it', (spend, micros) => {
    expect(readLitellmAlert({ event: 'threshold_crossed', spend }).spendMicros).toBe(micros);
  });

  it.each([
    ['event missing', { spend: 1 }, 'event'],
    ['event empty', { event: '', spend: 1 }, 'event'],
    ['event not a string', { event: 7, spend: 1 }, 'event'],
    ['spend missing', { event: 'budget_crossed' }, 'spend'],
    ['spend a string', { event: 'budget_crossed', spend: '12.5' }, 'spend'],
    ['spend null', { event: 'budget_crossed', spend: null }, 'spend'],
    ['spend negative', { event: 'budget_crossed', spend: -0.5 }, 'spend'],
    ['spend beyond a safe number of micro-dollars', { event: 'budget_crossed', spend: 1e12 }, 'spend'],
    ['max_budget a string', { event: 'budget_crossed', spend: 1, max_budget: '10' }, 'max_budget'],
    ['token a number', { event: 'budget_crossed', spend: 1, token: 12 }, 'token'],
  ])('refuses %s with 422 invalid_field naming the field', (_, json, path) => {
    const err = refusal(json);
    expect(err.status).toBe(422);
    expect(err.code).toBe('invalid_field');
    expect(err.details).toEqual([{ path, message: expect.any(String) }]);
  });

  it('names both fields when event and spend are missing, and the body when it is not an object', () => {
    expect(refusal({}).details?.map((d) => d.path)).toEqual(['event', 'spend']);
    expect(refusal([1, 2]).details?.map((d) => d.path)).toEqual(['(body)']);
    expect(refusal('budget_crossed').details?.map((d) => d.path)).toEqual(['(body)']);
  });
});

describe('alertSubject', () => {
  it.each([
    ['a key budget: the key', { ...none, event_group: 'key', token: TOKEN, team_id: 't1', user_id: 'u1' }, `key:${TOKEN}`],
    ['a team budget: the team, not the key that tripped it', { ...none, event_group: 'team', token: TOKEN, team_id: 't1' }, 'team:t1'],
    ['a user budget: the user', { ...none, event_group: 'user', token: TOKEN, user_id: 'u1' }, 'user:u1'],
    ['an internal_user budget: the user', { ...none, event_group: 'internal_user', token: TOKEN, user_id: 'u1' }, 'user:u1'],
    ['a customer budget: the customer', { ...none, event_group: 'customer', token: TOKEN, customer_id: 'c1' }, 'customer:c1'],
    ['an end_user budget: the customer', { ...none, event_group: 'end_user', token: TOKEN, customer_id: 'c1' }, 'customer:c1'],
    ['an organization budget: the organization', { ...none, event_group: 'organization', token: TOKEN, organization_id: 'o1' }, 'organization:o1'],
    ['the proxy budget: one constant, whichever key tripped it', { ...none, event_group: 'proxy', token: TOKEN, team_id: 't1' }, 'proxy'],
    ['no group: the key first', { ...none, token: TOKEN, team_id: 't1' }, `key:${TOKEN}`],
    ['no group, no key: the team', { ...none, team_id: 't1', user_id: 'u1' }, 'team:t1'],
    ['no group, key or team: the user', { ...none, user_id: 'u1', customer_id: 'c1' }, 'user:u1'],
    ['only a customer', { ...none, customer_id: 'c1' }, 'customer:c1'],
    ['a team group without a team id: falls back to the key', { ...none, event_group: 'team', token: TOKEN }, `key:${TOKEN}`],
    ['an unknown group (e.g. "constructor"): falls back to the key', { ...none, event_group: 'constructor', token: TOKEN }, `key:${TOKEN}`],
    ['nobody named', none, 'proxy'],
  ])('%s', (_, names, subject) => {
    expect(alertSubject(names)).toBe(subject);
  });
});

describe('usdToNearestMicros', () => {
  it('refuses what is not an amount of money instead of storing nonsense', () => {
    for (const usd of [-0.000001, Number.NaN, Number.POSITIVE_INFINITY, 1e10]) {
      expect(() => usdToNearestMicros(usd)).toThrow(RangeError);
    }
  });
});
