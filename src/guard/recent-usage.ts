/** Bytes the first buffer holds; it doubles while the window's events need more. */
const FIRST_BYTES = 64 * 1024;
/** The first index holds 2 ** this many events (1,024); it doubles while the window holds more. */
const FIRST_EVENTS_LOG2 = 10;

/**
 * The usage events the store took in the last `windowMs` (at most `max` of them), oldest first:
 * what a Redis that died without persistence may have taken with it before the ledger consumer
 * moved it to the database. Every settle adds one, so adding costs O(1): dropping the oldest
 * moves a read position, and both the bytes and the index are rings, so an event's bytes are
 * written once and never moved again unless the window outgrows its buffer.
 *
 * The events are kept as UTF-8 bytes outside V8's heap, not as strings: at thousands of requests
 * a second, 5 s of strings (about half a kilobyte each) were most of what each young-generation
 * collection had to copy and then promote, for a list that is read only when Redis is lost.
 */
export class RecentUsage {
  #bytes: Buffer;
  /**
   * Per event, in the order added, in slots `#head` to `#tail` (counted on, taken modulo the
   * capacity, a power of two): when, where its bytes start and end, and in which lap of the byte
   * ring they were written (0 or 1: the events kept span two laps at most).
   */
  #atMs: Float64Array;
  #start: Uint32Array;
  #end: Uint32Array;
  #lap: Uint8Array;
  #head = 0;
  #tail = 0;
  /** The lap of the byte ring new events are written in; it turns when writing goes back to the start. */
  #currentLap = 0;
  /** Events from `windowMs` before this on are kept past the window (`holdFrom`). */
  #holdFromMs = Number.POSITIVE_INFINITY;

  constructor(
    private readonly windowMs: number,
    private readonly max: number,
    /** How big the rings start (tests start them tiny, so they wrap and grow often). */
    first: { readonly bytes: number; readonly eventsLog2: number } = { bytes: FIRST_BYTES, eventsLog2: FIRST_EVENTS_LOG2 },
  ) {
    this.#bytes = Buffer.allocUnsafeSlow(first.bytes);
    const events = 2 ** first.eventsLog2;
    this.#atMs = new Float64Array(events);
    this.#start = new Uint32Array(events);
    this.#end = new Uint32Array(events);
    this.#lap = new Uint8Array(events);
  }

  get size(): number {
    return this.#tail - this.#head;
  }

  /**
   * Keeps the events from `windowMs` before `atMs` on, however old, until it is moved (infinity:
   * the window alone): those the ledger may not have yet, while the store holds usage unwritten
   * since `atMs`. Still at most `max`.
   */
  holdFrom(atMs: number): void {
    this.#holdFromMs = atMs;
  }

  add(event: string, nowMs: number): void {
    this.#dropOld(Math.min(nowMs, this.#holdFromMs) - this.windowMs);
    if (this.size === this.#atMs.length) this.#growIndex();
    const length = Buffer.byteLength(event);
    let at = this.#placeFor(length);
    if (at === undefined) {
      this.#growBytes(length);
      at = this.#placeFor(length)!;
    }
    this.#bytes.write(event, at, 'utf8');
    const slot = this.#slot(this.#tail++);
    this.#atMs[slot] = nowMs;
    this.#start[slot] = at;
    this.#end[slot] = at + length;
    this.#lap[slot] = this.#currentLap;
  }

  /** Every event still in the window, oldest first; the window is left empty. */
  drain(): string[] {
    const events: string[] = [];
    for (let i = this.#head; i < this.#tail; i++) {
      const slot = this.#slot(i);
      events.push(this.#bytes.toString('utf8', this.#start[slot]!, this.#end[slot]!));
    }
    this.#head = 0;
    this.#tail = 0;
    return events;
  }

  /** Drops the events older than `oldestMs`, and the oldest beyond `max - 1`, to make room for one. */
  #dropOld(oldestMs: number): void {
    while (this.#head < this.#tail && (this.#atMs[this.#slot(this.#head)]! < oldestMs || this.size >= this.max)) this.#head++;
    // The counters stay small (slots are taken with a 32-bit mask).
    const capacity = this.#atMs.length;
    if (this.#head >= capacity) {
      this.#head -= capacity;
      this.#tail -= capacity;
    }
  }

  #slot(i: number): number {
    return i & (this.#atMs.length - 1);
  }

  /**
   * Where `length` bytes can go without touching the events kept: after the newest, or, when the
   * end of the buffer is too near, at its start (a new lap), before the oldest. Undefined: no room.
   */
  #placeFor(length: number): number | undefined {
    if (this.size === 0) return length <= this.#bytes.length ? 0 : undefined;
    const oldest = this.#slot(this.#head);
    const newest = this.#slot(this.#tail - 1);
    const oldestStart = this.#start[oldest]!;
    const newestEnd = this.#end[newest]!;
    // Two laps: the newest events' bytes lie before the oldest's, and only the gap between is free.
    if (this.#lap[oldest] !== this.#lap[newest]) return newestEnd + length <= oldestStart ? newestEnd : undefined;
    if (newestEnd + length <= this.#bytes.length) return newestEnd;
    if (length > oldestStart) return undefined;
    this.#currentLap ^= 1;
    return 0;
  }

  /** A buffer twice the size (at least twice what the events kept and the next take), the events laid out from its start in one lap. */
  #growBytes(nextLength: number): void {
    let used = 0;
    for (let i = this.#head; i < this.#tail; i++) used += this.#end[this.#slot(i)]! - this.#start[this.#slot(i)]!;
    const bytes = Buffer.allocUnsafeSlow(Math.max(this.#bytes.length * 2, (used + nextLength) * 2));
    let at = 0;
    for (let i = this.#head; i < this.#tail; i++) {
      const slot = this.#slot(i);
      const length = this.#end[slot]! - this.#start[slot]!;
      this.#bytes.copy(bytes, at, this.#start[slot]!, this.#end[slot]!);
      this.#start[slot] = at;
      this.#end[slot] = at + length;
      this.#lap[slot] = this.#currentLap;
      at += length;
    }
    this.#bytes = bytes;
  }

  /** An index twice the size, the events in slots from its start. */
  #growIndex(): void {
    const capacity = this.#atMs.length * 2;
    const atMs = new Float64Array(capacity);
    const start = new Uint32Array(capacity);
    const end = new Uint32Array(capacity);
    const lap = new Uint8Array(capacity);
    for (let i = this.#head; i < this.#tail; i++) {
      const from = this.#slot(i);
      const to = i - this.#head;
      atMs[to] = this.#atMs[from]!;
      start[to] = this.#start[from]!;
      end[to] = this.#end[from]!;
      lap[to] = this.#lap[from]!;
    }
    this.#tail -= this.#head;
    this.#head = 0;
    this.#atMs = atMs;
    this.#start = start;
    this.#end = end;
    this.#lap = lap;
  }
}
