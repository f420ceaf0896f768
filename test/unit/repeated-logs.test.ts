import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RepeatedLogs, repeatedLogs, type Logger } from '../../src/logger.js';

type Line = { level: string; msg: string; fields: Record<string, unknown> };

function capture(): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, msg: string) => lines.push({ level, msg, fields });
  return { logger: { warn: at('warn'), error: at('error') } as unknown as Logger, lines };
}

describe('failures logged once per window', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('logs the first at once, then one line per window with the last fields and how many it stands for', () => {
    const { logger, lines } = capture();
    const logs = new RepeatedLogs(logger, 10_000);
    logs.warn({ tenant: 'a' }, 'store away');
    expect(lines).toEqual([{ level: 'warn', msg: 'store away', fields: { tenant: 'a' } }]);

    for (const tenant of ['b', 'c', 'd']) logs.warn({ tenant }, 'store away');
    vi.advanceTimersByTime(9_999);
    expect(lines).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(lines[1]).toEqual({ level: 'warn', msg: 'store away', fields: { tenant: 'd', repeated: 3 } });

    // Still going: the next window counts too, and its line says only what it held.
    logs.warn({ tenant: 'e' }, 'store away');
    vi.advanceTimersByTime(10_000);
    expect(lines[2]).toEqual({ level: 'warn', msg: 'store away', fields: { tenant: 'e', repeated: 1 } });

    // A window with nothing in it closes quietly; the next failure is news again, logged at once.
    vi.advanceTimersByTime(60_000);
    expect(lines).toHaveLength(3);
    logs.warn({ tenant: 'f' }, 'store away');
    expect(lines[3]).toEqual({ level: 'warn', msg: 'store away', fields: { tenant: 'f' } });
  });

  it('counts each message apart, at its own level', () => {
    const { logger, lines } = capture();
    const logs = new RepeatedLogs(logger, 10_000);
    logs.error({}, 'refusing');
    logs.warn({}, 'admitting');
    logs.error({}, 'refusing');
    logs.error({}, 'refusing');
    vi.advanceTimersByTime(10_000);
    expect(lines).toEqual([
      { level: 'error', msg: 'refusing', fields: {} },
      { level: 'warn', msg: 'admitting', fields: {} },
      { level: 'error', msg: 'refusing', fields: { repeated: 2 } },
    ]);
  });

  it('says at once what the open windows counted when flushed (shutdown)', () => {
    const { logger, lines } = capture();
    const logs = new RepeatedLogs(logger, 10_000);
    logs.warn({ n: 1 }, 'settle failed');
    logs.warn({ n: 2 }, 'settle failed');
    logs.flush();
    expect(lines.map((l) => l.fields)).toEqual([{ n: 1 }, { n: 2, repeated: 1 }]);
    logs.flush();
    expect(lines).toHaveLength(2);
  });

  it('is one set per logger, shared by whoever logs through it', () => {
    const one = capture().logger;
    expect(repeatedLogs(one)).toBe(repeatedLogs(one));
    expect(repeatedLogs(one)).not.toBe(repeatedLogs(capture().logger));
  });
});
