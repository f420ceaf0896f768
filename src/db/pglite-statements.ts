import { parse, protocol, type messages, type PGlite, type Results } from '@electric-sql/pglite';

type BackendMessage = messages.BackendMessage;

/**
 * PGlite's `query` parses, plans and describes its SQL on every call (an unnamed statement),
 * which in PostgreSQL-as-WebAssembly costs most of a short query: the key lookup on a key's first
 * request took 0.8-1.0 ms that way and 0.09-0.19 ms as a prepared statement (2,000 lookups among
 * 10,000 keys, in-process PGlite). The gateway's statements repeat with fresh values (drizzle
 * builds them once, see prepared.ts), so in the database's thread each SQL text is prepared once
 * under a name of its own and afterwards only bound and executed, as node-postgres does for a
 * named query against a server.
 *
 * Only outside a transaction: inside one, PGlite's own path runs (transactions are the
 * migrations', the jobs', admin writes' and alert records', none on a request's path).
 * PostgreSQL replans a prepared statement when a table it reads changes; one whose result columns
 * changed fails with 0A000 ("cached plan must not change result type") and is prepared again, once.
 */
export class NamedStatements {
  readonly #db: PGlite;
  readonly #limit: number;
  /** By SQL text, oldest first: over the limit, the oldest is closed. */
  readonly #statements = new Map<string, Statement>();
  readonly #parsers = new Map<string, Record<number, (text: string) => unknown>>();

  constructor(db: PGlite, limit = 256) {
    this.#db = db;
    this.#limit = limit;
  }

  /** `PGlite.query`'s answer for `sql` with `params`, the values of `textTypes` (type OIDs) left as text. */
  query(sql: string, params: readonly unknown[], rowMode: 'array' | 'object', textTypes: readonly number[] = []): Promise<Results> {
    const db = this.#db;
    const parsers = this.#parsersKeeping(textTypes);
    // PGlite's own locks, as `query` takes them: nothing else runs in between.
    return db._runExclusiveTransaction(() =>
      db._runExclusiveQuery(async () => {
        let messages: BackendMessage[];
        let statement = this.#statements.get(sql) ?? (await this.#prepare(sql));
        try {
          messages = await this.#run(statement, params);
        } catch (err) {
          if ((err as { code?: unknown }).code !== '0A000') throw err;
          await this.#close(sql, statement);
          statement = await this.#prepare(sql);
          messages = await this.#run(statement, params);
        }
        await db.syncToFs();
        if (statement.rowDescription) messages.unshift(statement.rowDescription);
        return parse.parseResults(messages, parsers, { rowMode })[0]!;
      }),
    );
  }

  /**
   * The database's parsers with `textTypes` left as text, made once per set of types. Given as a
   * query's `parsers` option instead, they are merged into the database's 318 on every call:
   * 81 µs (measured), about what the whole prepared key lookup costs.
   */
  #parsersKeeping(textTypes: readonly number[]): Record<number, (text: string) => unknown> {
    const key = textTypes.join(',');
    let parsers = this.#parsers.get(key);
    if (parsers === undefined) {
      parsers = { ...this.#db.parsers };
      for (const oid of textTypes) parsers[oid] = asText;
      this.#parsers.set(key, parsers);
    }
    return parsers;
  }

  /** How many statements are prepared (for tests). */
  get size(): number {
    return this.#statements.size;
  }

  async #prepare(sql: string): Promise<Statement> {
    const name = `bg_${nextName++}`;
    const messages = await this.#db.execProtocolStream(
      Buffer.concat([protocol.serialize.parse({ name, text: sql }), protocol.serialize.describe({ type: 'S', name }), protocol.serialize.sync()]),
      { syncToFs: false },
    );
    const params = messages.find((m): m is messages.ParameterDescriptionMessage => m.name === 'parameterDescription');
    const statement: Statement = {
      name,
      paramTypes: params?.dataTypeIDs ?? [],
      rowDescription: messages.find((m) => m.name === 'rowDescription'),
    };
    if (this.#statements.size >= this.#limit) {
      const [oldestSql, oldest] = this.#statements.entries().next().value as [string, Statement];
      await this.#close(oldestSql, oldest);
    }
    this.#statements.set(sql, statement);
    return statement;
  }

  async #run(statement: Statement, params: readonly unknown[]): Promise<BackendMessage[]> {
    const serializers = this.#db.serializers;
    const values = params.map((value, i) => {
      if (value === null || value === undefined) return null;
      const serialize = serializers[statement.paramTypes[i]!];
      return serialize ? serialize(value) : String(value);
    });
    return this.#db.execProtocolStream(
      Buffer.concat([protocol.serialize.bind({ statement: statement.name, values }), protocol.serialize.execute(), protocol.serialize.sync()]),
      { syncToFs: false },
    );
  }

  async #close(sql: string, statement: Statement): Promise<void> {
    this.#statements.delete(sql);
    await this.#db.execProtocolStream(Buffer.concat([protocol.serialize.close({ type: 'S', name: statement.name }), protocol.serialize.sync()]), {
      syncToFs: false,
    });
  }
}

const asText = (text: string): string => text;

/** Names are unique in the thread, whichever instance prepares on the database. */
let nextName = 1;

interface Statement {
  readonly name: string;
  /** The type of each parameter, as PostgreSQL inferred it: each value is serialized for its type. */
  readonly paramTypes: readonly number[];
  /** The result's columns; undefined when the statement returns no rows. */
  readonly rowDescription: BackendMessage | undefined;
}
