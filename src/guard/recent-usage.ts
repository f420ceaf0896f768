/**
 * The usage events the store took in the last `windowMs` (at most `max` of them), oldest first:
 * what a Redis that died without persistence may have taken with it before the ledger consumer
 * moved it to the database. Every settle adds one, so adding costs O(1): dropping the oldest
 * moves a read position, and the array is compacted only once most of it has been dropped
 * (removing them from the front one batch at a time copied the whole window on every settle).
 */
export class RecentUsage {
  #atMs: number[] = [];
  #events: string[] = [];
  #head = 0;

  constructor(
    private readonly windowMs: number,
    private readonly max: number,
  ) {}

  get size(): number {
    return this.#events.length - this.#head;
  }

  add(event: string, nowMs: number): void {
    this.#atMs.push(nowMs);
    this.#events.push(event);
    const oldest = nowMs - this.windowMs;
    while (this.#head < this.#events.length && (this.#atMs[this.#head]! < oldest || this.size > this.max)) {
      this.#events[this.#head++] = ''; // let the string go now, not at the next compaction
    }
    if (this.#head >= 1_024 && this.#head * 2 >= this.#events.length) {
      this.#atMs = this.#atMs.slice(this.#head);
      this.#events = this.#events.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Every event still in the window, oldest first; the window is left empty. */
  drain(): string[] {
    const events = this.#events.slice(this.#head);
    this.#atMs = [];
    this.#events = [];
    this.#head = 0;
    return events;
  }
}
