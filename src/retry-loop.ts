/**
 * What is owed to a store or database that was away (settles, releases, late charges, budget
 * crossings) is tried again on a timer: `everyMs` after `ask()`, then again after each pass for
 * as long as `pending()` says something is left. One pass at a time, none after `stop()`, and the
 * timer never keeps the process alive.
 */
export class RetryLoop {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(
    private readonly everyMs: number,
    private readonly pass: () => Promise<unknown>,
    private readonly pending: () => boolean,
  ) {}

  /** Something is owed: a pass `everyMs` from now, unless one is waiting or running already. */
  ask(): void {
    if (this.#timer !== undefined || this.#running !== undefined || this.#stopped || !this.pending()) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.pass()
        .then(
          () => {},
          () => {}, // a pass reports its own failures; what it left is tried at the next
        )
        .finally(() => {
          this.#running = undefined;
          this.ask();
        });
    }, this.everyMs);
    this.#timer.unref();
  }

  /** No pass after this; resolves once a pass under way has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
