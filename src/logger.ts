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
