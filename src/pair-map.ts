/**
 * A map keyed by a pair of strings, held as a map of maps. On the request path the two strings
 * are mostly the same objects every time (a key id, a model name, a bucket key, a reservation id),
 * whose hashes V8 keeps; one key joined from them would be a new string to build and hash on every
 * lookup. `size` counts the values, across every first string.
 */
export class PairMap<V> {
  readonly #outer = new Map<string, Map<string, V>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(first: string, second: string): V | undefined {
    return this.#outer.get(first)?.get(second);
  }

  set(first: string, second: string, value: V): void {
    let inner = this.#outer.get(first);
    if (inner === undefined) this.#outer.set(first, (inner = new Map()));
    if (!inner.has(second)) this.#size++;
    inner.set(second, value);
  }

  clear(): void {
    this.#outer.clear();
    this.#size = 0;
  }
}
