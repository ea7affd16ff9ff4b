import { type Head, headString } from './head.js';
import { MAX_EXC_PREFIX_CHARS } from './limits.js';

const TRACEBACK = 'Traceback (most recent call last)';
/** rsyslog's escape for LF when escapeControlCharactersOnReceive is on (the default). */
const ESC_LF = '#012';
const NEEDLES = new Map([TRACEBACK, ESC_LF, '\n'].map((s) => [s, Buffer.from(s, 'latin1')]));
const ERROR_SP = 'ERROR ';

/** Bytes of `2026-11-26 12:55:44,694.694 22369 ` : what precedes `ERROR` on a prefixed line. */
function isPrefixByte(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x20 || c === 0x2d || c === 0x3a || c === 0x2e || c === 0x2c || c === 0x54;
}

function sameBytes(raw: Buffer, a: number, b: number, len: number): boolean {
  for (let k = 0; k < len; k++) if (raw[a + k] !== raw[b + k]) return false;
  return true;
}

/**
 * Whether the line starting at pos is an oslo `logging_exception_prefix` line of
 * this record: `<time> <pid> ERROR <logger>` followed by a space or the end. The
 * pid and logger must equal the first line's, so an unrelated embedded log line
 * does not count. Reads only bytes of that line (every check stops at LF), so
 * checking every line keeps the total work linear in the body.
 */
function prefixedLineAt(raw: Buffer, pos: number, end: number, pid: [number, number], logger: [number, number]): boolean {
  const limit = Math.min(end, pos + MAX_EXC_PREFIX_CHARS);
  let k = pos;
  while (k < limit && isPrefixByte(raw[k])) k++;
  const pidLen = pid[1] - pid[0];
  const pidAt = k - 1 - pidLen;
  if (pidAt - 1 < pos + 8 || raw[k - 1] !== 0x20 || raw[pidAt - 1] !== 0x20) return false;
  if (!sameBytes(raw, pidAt, pid[0], pidLen)) return false;
  if (k + ERROR_SP.length > end) return false;
  for (let j = 0; j < ERROR_SP.length; j++) if (raw[k + j] !== ERROR_SP.charCodeAt(j)) return false;
  k += ERROR_SP.length;
  const logLen = logger[1] - logger[0];
  if (k + logLen > end || !sameBytes(raw, k, logger[0], logLen)) return false;
  k += logLen;
  return k === end || raw[k] === 0x20;
}

/**
 * First index >= from of an ASCII needle in the message text, or -1. Searches
 * the decoded head window as a string first (String#indexOf is far cheaper per
 * call than Buffer#indexOf), then the rest of the bytes.
 */
function find(h: Head, needle: string, from: number): number {
  const i = headString(h).indexOf(needle, from);
  if (i >= 0 || h.n >= h.end) return i;
  const j = h.raw.indexOf(NEEDLES.get(needle)!, Math.max(from, h.n - needle.length + 1));
  return j >= 0 && j + needle.length <= h.end ? j : -1;
}

function anyPrefixedLine(h: Head, from: number, sep: string, pid: [number, number], logger: [number, number]): boolean {
  for (let i = find(h, sep, from); i >= 0; i = find(h, sep, i + sep.length)) {
    if (prefixedLineAt(h.raw, i + sep.length, h.end, pid, logger)) return true;
  }
  return false;
}

/**
 * Whether an oslo ContextFormatter record carries a traceback: the phrase
 * `Traceback (most recent call last)` anywhere in the text (this also flags a
 * traceback line cut out of its record by broken LF framing), or a later line,
 * separated by a raw LF or rsyslog's `#012`, that starts with this record's
 * exception prefix. Scans the whole body with native indexOf: linear, no regex.
 */
export function hasTraceback(h: Head, from: number, pid: [number, number], logger: [number, number]): boolean {
  return find(h, TRACEBACK, from) >= 0 || anyPrefixedLine(h, from, '\n', pid, logger) ||
    anyPrefixedLine(h, from, ESC_LF, pid, logger);
}
