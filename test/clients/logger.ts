// util-linux logger(1) as a real syslog client, and the exact bytes it sends (corpus README,
// "util-linux logger"): RFC 3164 `<PRI>Mmm dd hh:mm:ss HOST TAG: MSG` with the short host name,
// RFC 5424 `<PRI>1 TS HOST TAG - - [timeQuality ...] MSG` with the full one.
import { hostname } from 'node:os';
import { LOGGER, requireExecutable, runOk } from './proc.js';

export function requireLogger(): void {
  requireExecutable(LOGGER, 'bsdutils');
}

/** Sends with `logger ARGS... [-- MESSAGE]`, stdin from `input`; bounded, and must exit 0. */
export async function logger(args: string[], opts: { message?: string; input?: string } = {}): Promise<void> {
  const full = opts.message === undefined ? args : [...args, '--', opts.message];
  await runOk(LOGGER, full, { ...(opts.input !== undefined ? { input: opts.input } : {}), timeoutMs: 20_000, env: { PATH: '/usr/bin:/bin', LC_ALL: 'C.UTF-8', TZ: 'UTC' } });
}

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Bytes as a latin1 string: one char per byte, so a regex over it is a byte-exact match. */
export function bytesOf(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
export const RFC3164_TS = `${MONTH} [ 1-3]\\d \\d\\d:\\d\\d:\\d\\d`;
export const RFC3339_US = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}(?:[+-]\\d\\d:\\d\\d|Z)';
/** logger always adds this SD element in RFC 5424 mode; isSynced depends on the clock discipline. */
export const TIME_QUALITY = '\\[timeQuality tzKnown="1" isSynced="(?:0|1)"(?: syncAccuracy="\\d+")?\\]';

/** What logger puts in HOSTNAME: gethostname(), cut at the first dot for RFC 3164. */
export function loggerHost(fmt: 'rfc3164' | 'rfc5424'): string {
  const h = hostname();
  return fmt === 'rfc3164' ? h.split('.')[0]! : h;
}

/**
 * Regex (over the latin1 view of the raw bytes) of one message logger sends with
 * `-t TAG -p local0.info`, no terminator: the header with its variable timestamp captured as
 * group 1 (and the SD as group 2 for RFC 5424), then MSG byte for byte.
 */
export function loggerMessageRe(fmt: 'rfc3164' | 'rfc5424', tag: string, pri: number, msg: string): RegExp {
  const host = escapeRegExp(loggerHost(fmt));
  const body = escapeRegExp(bytesOf(msg));
  return fmt === 'rfc3164'
    ? new RegExp(`^<${pri}>(${RFC3164_TS}) ${host} ${escapeRegExp(tag)}: ${body}$`)
    : new RegExp(`^<${pri}>1 (${RFC3339_US}) ${host} ${escapeRegExp(tag)} - - (${TIME_QUALITY}) ${body}$`);
}
