import winston from 'winston';
import type { Warn } from '../receive/sink.js';

/** The daemon's own log: plain lines on stderr, which journald keeps under systemd. */
/** The daemon's logger; other modules name its type through this, not through winston. */
export type DaemonLogger = winston.Logger;

export function createDaemonLogger(level: string): winston.Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(
      winston.format.timestamp(),
      winston.format.printf((i) => {
        const { timestamp, level: lv, message, ...rest } = i;
        const extra = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '';
        return `${timestamp} ${lv.toUpperCase()} immutalog ${message}${extra}`;
      }),
    ),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
  });
}

/** At most this many warnings of one kind per window; the rest are counted and summarised. */
const WARNINGS_PER_WINDOW = 5;
const WINDOW_MS = 10_000;

/**
 * Bad input is reported, but a flood of garbage must not turn into a flood of log lines (or
 * into disk use): each kind of warning is capped per window and the overflow is summarised.
 */
export function rateLimitedWarn(log: winston.Logger, now: () => number = Date.now): Warn & { flush(): void } {
  const windows = new Map<string, { start: number; shown: number; suppressed: number }>();
  const summarise = (kind: string, w: { suppressed: number }): void => {
    if (w.suppressed > 0) log.warn(`${w.suppressed} more "${kind}" warnings suppressed in the last ${WINDOW_MS / 1000} s`);
    w.suppressed = 0;
  };
  const warn = ((kind: string, message: string, meta?: Record<string, unknown>) => {
    const t = now();
    let w = windows.get(kind);
    if (!w || t - w.start >= WINDOW_MS) {
      if (w) summarise(kind, w);
      w = { start: t, shown: 0, suppressed: 0 };
      windows.set(kind, w);
    }
    if (w.shown < WARNINGS_PER_WINDOW) {
      w.shown++;
      log.warn(message, meta);
    } else {
      w.suppressed++;
    }
  }) as Warn & { flush(): void };
  warn.flush = () => {
    for (const [k, w] of windows) summarise(k, w);
  };
  return warn;
}
