/** Bytes the first buffer holds; it doubles while the window's events need more. */
const FIRST_BYTES = 64 * 1024;
/** Events the first index holds; it doubles likewise (up to twice `max`). */
const FIRST_EVENTS = 1_024;

/**
 * The usage events the store took in the last `windowMs` (at most `max` of them), oldest first:
 * what a Redis that died without persistence may have taken with it before the ledger consumer
 * moved it to the database. Every settle adds one, so adding costs O(1) (amortized): dropping the
 * oldest moves a read position, and the buffers are compacted only once they are full.
 *
 * The events are kept as UTF-8 bytes outside V8's heap, not as strings: at thousands of requests
 * a second, 5 s of strings (about half a kilobyte each) were most of what each young-generation
 * collection had to copy and then promote, for a list that is read only when Redis is lost.
 */
export class RecentUsage {
  #bytes = Buffer.allocUnsafeSlow(FIRST_BYTES);
  /** Per event, in the order added: when, and where its bytes start and end. */
  #atMs = new Float64Array(FIRST_EVENTS);
  #start = new Uint32Array(FIRST_EVENTS);
  #end = new Uint32Array(FIRST_EVENTS);
  /** The oldest event kept, and one past the newest. */
  #head = 0;
  #tail = 0;

  constructor(
    private readonly windowMs: number,
    private readonly max: number,
  ) {}

  get size(): number {
    return this.#tail - this.#head;
  }

  add(event: string, nowMs: number): void {
    const oldest = nowMs - this.windowMs;
    while (this.#head < this.#tail && (this.#atMs[this.#head]! < oldest || this.size >= this.max)) this.#head++;
    const length = Buffer.byteLength(event);
    if (this.#tail === this.#atMs.length || this.#bytesEnd() + length > this.#bytes.length) this.#compact(length);
    const at = this.#bytesEnd();
    this.#bytes.write(event, at, 'utf8');
    this.#atMs[this.#tail] = nowMs;
    this.#start[this.#tail] = at;
    this.#end[this.#tail] = at + length;
    this.#tail++;
  }

  /** Every event still in the window, oldest first; the window is left empty. */
  drain(): string[] {
    const events: string[] = [];
    for (let i = this.#head; i < this.#tail; i++) events.push(this.#bytes.toString('utf8', this.#start[i]!, this.#end[i]!));
    this.#head = 0;
    this.#tail = 0;
    return events;
  }

  /** Where the newest event's bytes end: the next event's go from here. */
  #bytesEnd(): number {
    return this.#tail === 0 ? 0 : this.#end[this.#tail - 1]!;
  }

  /**
   * Moves the events kept to the front of the buffers, growing each that would still be more than
   * half full with the next event in it (so compactions stay rare, whatever the window holds).
   */
  #compact(nextLength: number): void {
    const count = this.size;
    const first = count === 0 ? 0 : this.#start[this.#head]!;
    const last = count === 0 ? 0 : this.#bytesEnd();
    const used = last - first;
    if ((used + nextLength) * 2 > this.#bytes.length) {
      const bytes = Buffer.allocUnsafeSlow(Math.max(this.#bytes.length * 2, (used + nextLength) * 2));
      this.#bytes.copy(bytes, 0, first, last);
      this.#bytes = bytes;
    } else {
      this.#bytes.copy(this.#bytes, 0, first, last);
    }
    if ((count + 1) * 2 > this.#atMs.length) {
      const capacity = this.#atMs.length * 2;
      this.#atMs = grown(this.#atMs, new Float64Array(capacity), this.#head, this.#tail);
      this.#start = grown(this.#start, new Uint32Array(capacity), this.#head, this.#tail);
      this.#end = grown(this.#end, new Uint32Array(capacity), this.#head, this.#tail);
    } else {
      this.#atMs.copyWithin(0, this.#head, this.#tail);
      this.#start.copyWithin(0, this.#head, this.#tail);
      this.#end.copyWithin(0, this.#head, this.#tail);
    }
    for (let i = 0; i < count; i++) {
      this.#start[i] = this.#start[i]! - first;
      this.#end[i] = this.#end[i]! - first;
    }
    this.#head = 0;
    this.#tail = count;
  }
}

function grown<T extends Float64Array | Uint32Array>(from: T, to: T, head: number, tail: number): T {
  to.set(from.subarray(head, tail));
  return to;
}
