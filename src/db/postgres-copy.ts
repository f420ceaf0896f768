import type { Sql } from 'postgres';

/**
 * Sends `data` to a `COPY ... FROM STDIN` statement on one of the pool's connections and
 * resolves once the server has taken it all, or rejects with the server's error.
 *
 * postgres-js (3.4.9) never settles a COPY's writable when the server refuses the data after it
 * was all sent (porsager/postgres#1173, a fix proposed in #1183): neither 'finish' nor 'error'
 * comes, while the server's error goes to the query's own `reject`, a no-op by then since the
 * query already resolved with the stream. The ledger meets that refusal whenever a batch holds a
 * request id already written (a replay), so the error is taken where postgres-js sends it. The
 * connection itself is left ready for the next query (`test/db/budget-records.test.ts` writes a
 * replayed batch again on the same pool).
 */
export async function copyIn(client: Sql, statement: string, data: Uint8Array): Promise<void> {
  const query = client.unsafe(statement) as unknown as ReturnType<Sql['unsafe']> & { reject(err: unknown): void };
  let refuse!: (err: unknown) => void;
  const refused = new Promise<never>((_, reject) => (refuse = reject));
  // Also rejected when the statement itself fails (the connection refused, say): then the await
  // of `writable()` below throws that error first, and this one is not waited for.
  refused.catch(() => undefined);
  const rejectQuery = query.reject;
  query.reject = (err) => {
    refuse(err);
    rejectQuery(err);
  };
  const writable = await query.writable();
  const taken = new Promise<void>((resolve, reject) => {
    writable.once('error', reject);
    writable.once('finish', resolve);
    writable.end(data);
  });
  await Promise.race([taken, refused]);
}
