import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stdout (CONTRACT section 1). Keys and bodies are never passed to the logger. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'budget-gateway' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

/** How long a failure that repeats is counted before it is logged again. */
const REPEAT_WINDOW_MS = 10_000;

/**
 * Failures met once per request (the budget store or the database away under load) as lines an
 * operator can read: the first at once, then, while they go on, one line per window of
 * `windowMs` with the last one's fields and how many times it happened since the line before
 * (`repeated`). Thousands of identical lines a second would bury everything else and spend CPU
 * an outage leaves short. Lines are told apart by their message.
 */
export class RepeatedLogs {
  readonly #windows = new Map<string, RepeatWindow>();

  constructor(
    private readonly logger: Logger,
    private readonly windowMs = REPEAT_WINDOW_MS,
  ) {}

  warn(fields: Record<string, unknown>, msg: string): void {
    this.#window('warn', msg).add(fields);
  }

  error(fields: Record<string, unknown>, msg: string): void {
    this.#window('error', msg).add(fields);
  }

  /** Logs what the open windows counted, now (shutdown: the count would go with the process). */
  flush(): void {
    for (const window of this.#windows.values()) window.close();
  }

  #window(level: 'warn' | 'error', msg: string): RepeatWindow {
    let window = this.#windows.get(msg);
    if (window === undefined) this.#windows.set(msg, (window = new RepeatWindow(this.logger, level, msg, this.windowMs)));
    return window;
  }
}

class RepeatWindow {
  #timer: NodeJS.Timeout | undefined;
  #repeated = 0;
  #last: Record<string, unknown> = {};

  constructor(
    private readonly logger: Logger,
    private readonly level: 'warn' | 'error',
    private readonly msg: string,
    private readonly windowMs: number,
  ) {}

  add(fields: Record<string, unknown>): void {
    if (this.#timer === undefined) {
      this.logger[this.level](fields, this.msg);
      this.#open();
    } else {
      this.#repeated++;
      this.#last = fields;
    }
  }

  /** Ends the window: one line for what it counted, and another window if it counted anything. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#repeated === 0) return;
    this.logger[this.level]({ ...this.#last, repeated: this.#repeated }, this.msg);
    this.#repeated = 0;
    this.#open();
  }

  #open(): void {
    this.#timer = setTimeout(() => this.close(), this.windowMs);
    this.#timer.unref();
  }
}

const repeated = new WeakMap<Logger, RepeatedLogs>();

/** The logger's repeated-failure lines: one set per logger, shared by every part that logs through it. */
export function repeatedLogs(logger: Logger): RepeatedLogs {
  let logs = repeated.get(logger);
  if (logs === undefined) repeated.set(logger, (logs = new RepeatedLogs(logger)));
  return logs;
}
