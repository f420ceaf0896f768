import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { readLitellmAlert } from '../../src/alerts/litellm-alert.js';
import { recordLitellmAlert } from '../../src/db/litellm-alerts.js';
import { forEachDatabase } from '../support/databases.js';
import { litellmKeyBudgetAlert } from './payloads.js';
import { alertAudits, storedAlerts } from './records.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-03-01T12:00:00Z');

const alertFor = (token: string, event = 'budget_crossed') => readLitellmAlert(litellmKeyBudgetAlert({ token, event }));
const freshToken = () => randomBytes(32).toString('hex');

forEachDatabase('storing LiteLLM alerts once per event and subject an hour', (t) => {
  it('stores the first, drops repeats within the hour, and stores it again once the hour has passed', async () => {
    const alert = alertFor(freshToken());
    expect((await recordLitellmAlert(t.db, alert, T0, HOUR)).stored).toBe(true);
    expect((await recordLitellmAlert(t.db, alert, T0 + 1, HOUR)).stored).toBe(false);
    expect((await recordLitellmAlert(t.db, alert, T0 + HOUR - 1, HOUR)).stored).toBe(false);
    expect((await recordLitellmAlert(t.db, alert, T0 + HOUR, HOUR)).stored).toBe(true);
    expect((await storedAlerts(t.db, alert.subject)).map((r) => r.receivedAt.getTime())).toEqual([T0, T0 + HOUR]);
    expect(await alertAudits(t.db, alert.subject)).toHaveLength(2);
  });

  it('keeps different events about one subject, and one event about different subjects, apart', async () => {
    const token = freshToken();
    const crossed = alertFor(token, 'budget_crossed');
    const threshold = alertFor(token, 'threshold_crossed');
    const otherKey = alertFor(freshToken(), 'budget_crossed');
    for (const alert of [crossed, threshold, otherKey]) expect((await recordLitellmAlert(t.db, alert, T0, HOUR)).stored).toBe(true);
    expect(await storedAlerts(t.db, crossed.subject)).toHaveLength(2);
    expect(await storedAlerts(t.db, otherKey.subject)).toHaveLength(1);
  });

  it('stores one of 20 simultaneous copies, with one audit entry', async () => {
    const alert = alertFor(freshToken());
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => recordLitellmAlert(t.db, alert, T0, HOUR)));
    expect(outcomes.filter((o) => o.stored)).toHaveLength(1);
    expect(await storedAlerts(t.db, alert.subject)).toHaveLength(1);
    expect(await alertAudits(t.db, alert.subject)).toHaveLength(1);
  });

  // PostgreSQL only: a PGlite folder has one owner, so there is no second replica to race.
  if (t.kind === 'postgres') it('stores one of 20 simultaneous copies arriving through two connection pools (two replicas)', async () => {
    const second = (await t.connect()).db;
    const alert = alertFor(freshToken());
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => recordLitellmAlert(i % 2 ? second : t.db, alert, T0, HOUR)));
    expect(outcomes.filter((o) => o.stored)).toHaveLength(1);
    expect(await storedAlerts(t.db, alert.subject)).toHaveLength(1);
    expect(await alertAudits(t.db, alert.subject)).toHaveLength(1);
  });
});
