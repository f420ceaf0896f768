import { describe, expect, it } from 'vitest';
import { tenantScopes } from '../../src/budget/scopes.js';
import { listAudit } from '../../src/db/audit.js';
import type { Db } from '../../src/db/client.js';
import { CrossingRecorder } from '../../src/guard/crossings.js';
import { createLogger } from '../../src/logger.js';
import { testDatabase } from '../support/gateway.js';
import { tenantId, tenantLimits } from '../support/tenants.js';

/**
 * A budget crossing (alert, blocked) seen while the database refuses writes is written once it
 * takes them again, whether or not the tenant sends another request: a tenant that crossed its
 * alert line and stopped would otherwise never be alerted about this period.
 */

/** The test database, refusing transactions while `down`. */
async function flakyDb(): Promise<{ db: Db; setDown(down: boolean): void }> {
  const real = (await testDatabase()).db;
  let down = false;
  const db = new Proxy(real, {
    get(target, property, receiver) {
      if (property === 'transaction' && down) return () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
  return { db, setDown: (d) => (down = d) };
}

describe('budget crossings the database did not take', () => {
  it('are written once it takes them again, with no request to trigger it, and once only', async () => {
    const { db, setDown } = await flakyDb();
    const recorder = new CrossingRecorder(db, createLogger('silent'), 50);
    try {
      const owner = tenantId();
      const [budget] = tenantScopes(tenantLimits(Date.now() - 1_000, { tenantId: owner, maxBudgetMicros: 1_000 }), Date.now(), []);
      const alerts = async () => (await listAudit(db, { tenantId: owner, event: 'budget_alert', limit: 10 })).length;

      setDown(true);
      recorder.note({ ownerId: owner, budget: budget!, spend: 850 });
      await new Promise((resolve) => setTimeout(resolve, 300));
      setDown(false);
      expect(await alerts()).toBe(0);

      await expect.poll(alerts, { timeout: 5_000, interval: 50 }).toBe(1);
      // Seen again by later requests, and after more rounds: still one.
      recorder.note({ ownerId: owner, budget: budget!, spend: 900 });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await alerts()).toBe(1);
    } finally {
      await recorder.stop();
    }
  });

  it('are not written again after stop', async () => {
    const { db, setDown } = await flakyDb();
    const recorder = new CrossingRecorder(db, createLogger('silent'), 50);
    const owner = tenantId();
    const [budget] = tenantScopes(tenantLimits(Date.now() - 1_000, { tenantId: owner, maxBudgetMicros: 1_000 }), Date.now(), []);
    setDown(true);
    recorder.note({ ownerId: owner, budget: budget!, spend: 850 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await recorder.stop();
    setDown(false);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await listAudit(db, { tenantId: owner, event: 'budget_alert', limit: 10 })).toHaveLength(0);
  });
});
