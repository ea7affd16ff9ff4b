/**
 * Severity ranks shared by oslo.log levels and syslog severities, so that `query --level X`
 * selects X and everything more severe, as `journalctl -p` does. The scale is Python's numeric
 * logging levels (oslo.log's TRACE is 5, AUDIT 21), with the syslog severities above CRITICAL
 * (emerg, alert) placed beyond it and notice between INFO and WARNING.
 */
export const OSLO_LEVEL_RANKS: Readonly<Record<string, number>> = {
  CRITICAL: 50, FATAL: 50, ERROR: 40, WARNING: 30, WARN: 30, AUDIT: 21, INFO: 20, DEBUG: 10, TRACE: 5,
};

/** Syslog severity (0 emerg .. 7 debug) to the same scale: `local0.err` ranks as ERROR. */
export const SYSLOG_SEVERITY_RANKS: readonly number[] = [70, 60, 50, 40, 30, 25, 20, 10];

const SYSLOG_NAMES: Readonly<Record<string, number>> = {
  EMERG: 0, PANIC: 0, ALERT: 1, CRIT: 2, ERR: 3, WARNING: 4, NOTICE: 5, INFO: 6, DEBUG: 7,
};

/** The rank of a --level argument: an oslo.log level or a syslog severity name or number, any case. */
export function parseLevelArg(arg: string): number {
  const u = arg.trim().toUpperCase();
  if (u in OSLO_LEVEL_RANKS) return OSLO_LEVEL_RANKS[u]!;
  if (u in SYSLOG_NAMES) return SYSLOG_SEVERITY_RANKS[SYSLOG_NAMES[u]!]!;
  if (/^[0-7]$/.test(u)) return SYSLOG_SEVERITY_RANKS[Number(u)]!;
  throw new Error(`expected an oslo.log level (${Object.keys(OSLO_LEVEL_RANKS).join(', ')}) or a syslog severity (emerg, alert, crit, err, warning, notice, info, debug, 0-7), got ${JSON.stringify(arg)}`);
}
