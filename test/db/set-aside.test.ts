import { randomUUID } from 'node:crypto';
import { eq, inArray, sql } from 'drizzle-orm';
import { expect, it } from 'vitest';
import { countSetAside, periodSpend } from '../../src/db/ledger.js';
import { usageLedger, usageSetAside } from '../../src/db/schema.js';
import { ledgerSink } from '../../src/ledger/ledger-sink.js';
import { encodeUsage } from '../../src/ledger/usage-event.js';
import { createLogger } from '../../src/logger.js';
import { forEachDatabase } from '../support/databases.js';
import { usageRecord } from '../support/ledger.js';
import { tenantId } from '../support/tenants.js';

const PERIOD = new Date('2030-01-01T00:00:00Z');
const logger = createLogger('silent');

/** A request's usage event, as settle encodes it. */
const eventOf = (tenant: string) => encodeUsage(usageRecord(randomUUID(), { tenantId: tenant, periodStartedAtMs: PERIOD.getTime(), createdAtMs: Date.now() }));

/**
 * Events no gateway of this version makes (encodeUsage makes every value storable), but which an
 * older or newer one, or a hand, could leave in the Redis stream: each refused for its own reason,
 * by PostgreSQL or before anything is sent.
 */
function unwritable(tenant: string) {
  return {
    nul: { event: eventOf(tenant).replace('"model":"gpt-4o-mini"', '"model":"gpt\\u0000"'), reason: /^22021: invalid byte sequence/ },
    noTenant: { event: eventOf(tenant).replace(`"tenant_id":"${tenant}"`, '"tenant_id":null'), reason: /^23502: null value in column "tenant_id"/ },
    notUuid: { event: eventOf(tenant).replace(/"request_id":"[^"]+"/, `"request_id":"req-${randomUUID()}"`), reason: /^binary COPY: column request_id \(uuid\) cannot hold "req-/ },
    notJson: { event: `{"request_id":"${randomUUID()}"`, reason: /^binary COPY: a row is not JSON/ },
    // Two events in one entry: set aside as one, never two ledger rows.
    twoObjects: { event: `${eventOf(tenant)},${eventOf(tenant)}`, reason: /^binary COPY: a row is not JSON/ },
    notObject: { event: JSON.stringify(randomUUID()), reason: /^binary COPY: a row is not a JSON object/ },
  };
}

/** README, "Usage events set aside": the statement that puts a corrected event in the ledger. */
const putBack = (sha256: string) => sql`with back as (delete from usage_set_aside where event_sha256 = ${sha256} returning event)
insert into usage_ledger select r.* from back, json_populate_record(null::usage_ledger, back.event::json) r
on conflict (request_id) do nothing`;

forEachDatabase('usage events the ledger table refuses', (t) => {
  it('are set aside, each once and with its reason, while the rest of their batch goes into the ledger', async () => {
    const tenant = tenantId();
    const good = [eventOf(tenant), eventOf(tenant), eventOf(tenant)];
    const bad = unwritable(tenant);
    const batch = [good[0]!, bad.nul.event, bad.notUuid.event, good[1]!, bad.notJson.event, bad.noTenant.event, bad.notObject.event, bad.twoObjects.event, good[2]!];
    const before = await countSetAside(t.db);
    const sink = ledgerSink(t.database, logger);

    expect(await sink(batch)).toBe(3);
    expect((await periodSpend(t.db, tenant, PERIOD)).requests).toBe(3);
    const setAside = await t.db.select().from(usageSetAside).where(inArray(usageSetAside.event, Object.values(bad).map((b) => b.event)));
    expect(setAside).toHaveLength(6);
    for (const { event, reason } of Object.values(bad)) expect(setAside.find((s) => s.event === event)?.reason).toMatch(reason);
    expect(await countSetAside(t.db)).toBe(before + 6);

    // The same batch again, as a pipeline retries it after an outage: nothing new anywhere.
    expect(await sink(batch)).toBe(0);
    expect((await periodSpend(t.db, tenant, PERIOD)).requests).toBe(3);
    expect(await countSetAside(t.db)).toBe(before + 6);
  });

  it('can be put back into the ledger once corrected, with the README statement', async () => {
    const tenant = tenantId();
    const { nul } = unwritable(tenant);
    await ledgerSink(t.database, logger)([nul.event]);
    const [kept] = await t.db.select().from(usageSetAside).where(eq(usageSetAside.event, nul.event));
    await t.db.update(usageSetAside).set({ event: nul.event.replace('gpt\\u0000', 'gpt') }).where(eq(usageSetAside.eventSha256, kept!.eventSha256));

    await t.db.execute(putBack(kept!.eventSha256));
    const [stored] = await t.db.select().from(usageLedger).where(eq(usageLedger.tenantId, tenant));
    expect(stored).toMatchObject({ model: 'gpt', costMicros: 3, promptTokens: 1, periodStartedAt: PERIOD });
    expect(await t.db.select().from(usageSetAside).where(eq(usageSetAside.eventSha256, kept!.eventSha256))).toEqual([]);
  });

  it('keeps text no column holds as U+FFFD, so setting it aside cannot fail too', async () => {
    const tenant = tenantId();
    const raw = `{"request_id":"${randomUUID()}","model":"gpt\u0000\ud800"`;
    expect(await ledgerSink(t.database, logger)([raw, eventOf(tenant)])).toBe(1);
    const [kept] = await t.db.select().from(usageSetAside).where(eq(usageSetAside.event, raw.replace('\u0000\ud800', '\ufffd\ufffd')));
    expect(kept?.reason).toMatch(/not JSON/);
  });
});
