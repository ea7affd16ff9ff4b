import { type Head, headString } from './head.js';
import { MAX_EXC_PREFIX_CHARS } from './limits.js';

const TRACEBACK = 'Traceback (most recent call last)';
const TRACEBACK_BYTES = Buffer.from(TRACEBACK, 'latin1');
const ERROR_WORD = ' ERROR ';
const LF = 0x0a;
const SP = 0x20;
/** Shortest oslo time, `hh:mm:ss` (rsyslog may have taken the date away). */
const MIN_TIME_CHARS = 8;

/** Bytes of `2026-11-26 12:55:44,694.694`: what precedes ` <pid> ERROR` on a prefixed line. */
function isTimeByte(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === SP || c === 0x2d || c === 0x3a || c === 0x2e || c === 0x2c || c === 0x54;
}

function sameBytes(raw: Buffer, a: number, b: number, len: number): boolean {
  for (let k = 0; k < len; k++) if (raw[a + k] !== raw[b + k]) return false;
  return true;
}

/**
 * Whether the ` ERROR <logger>` found at i belongs to an oslo
 * `logging_exception_prefix` line of this record, i.e. the line reads
 * `<time> <pid> ERROR <logger>` and a space or the end follows. Checked backwards
 * from i: this record's pid, a space, then time bytes back to a line break, which
 * is a raw LF or rsyslog's `#012`. Reads at most MAX_EXC_PREFIX_CHARS bytes.
 */
function isPrefixedLine(h: Head, i: number, needleLen: number, from: number, pidStart: number, pidEnd: number): boolean {
  const raw = h.raw;
  const after = i + needleLen;
  if (after !== h.end && raw[after] !== SP) return false;
  const pidLen = pidEnd - pidStart;
  const p = i - pidLen;
  if (p - 1 <= from || raw[p - 1] !== SP || !sameBytes(raw, p, pidStart, pidLen)) return false;
  const timeEnd = p - 1;
  const min = Math.max(from, i - MAX_EXC_PREFIX_CHARS);
  let j = timeEnd;
  while (j > min && isTimeByte(raw[j - 1])) j--;
  if (j <= from) return false;
  let lineStart: number;
  if (raw[j - 1] === LF) lineStart = j;
  // `#012`: its digits are time bytes, so the walk stopped at the `#`.
  else if (raw[j - 1] === 0x23 && raw[j] === 0x30 && raw[j + 1] === 0x31 && raw[j + 2] === 0x32) lineStart = j + 3;
  else return false;
  return timeEnd - lineStart >= MIN_TIME_CHARS;
}

/** Whether the phrase occurs in the message text from `from` on. */
function hasPhrase(h: Head, from: number): boolean {
  if (headString(h).indexOf(TRACEBACK, from) >= 0) return true;
  if (h.n >= h.end) return false;
  // Past the window: one native search, starting early enough to catch a phrase straddling the edge.
  const j = h.raw.indexOf(TRACEBACK_BYTES, Math.max(from, h.n - TRACEBACK.length + 1));
  return j >= 0 && j + TRACEBACK.length <= h.end;
}

/**
 * Whether a later line starts with this record's exception prefix. Searches for
 * ` ERROR <logger>` (native indexOf: one call when there is no traceback) and
 * checks each hit backwards, rather than visiting every line break, so a body of
 * many short lines stays cheap. Hits are at least the needle's length apart and
 * each check is bounded, so the work is linear.
 */
function hasPrefixedLine(h: Head, from: number, pidStart: number, pidEnd: number, lgStart: number, lgEnd: number): boolean {
  const s = headString(h);
  // Most records hold no ` ERROR ` at all: then no needle either, and none is built.
  if (h.n >= h.end && s.indexOf(ERROR_WORD, from) < 0) return false;
  // s is latin1, so this string is the logger's exact bytes.
  const needle = `${ERROR_WORD}${s.slice(lgStart, lgEnd)}`;
  for (let i = s.indexOf(needle, from); i >= 0; i = s.indexOf(needle, i + 1)) {
    if (isPrefixedLine(h, i, needle.length, from, pidStart, pidEnd)) return true;
  }
  if (h.n >= h.end) return false;
  const bytes = Buffer.from(needle, 'latin1');
  for (let i = h.raw.indexOf(bytes, Math.max(from, h.n - needle.length + 1)); i >= 0 && i + needle.length <= h.end;
    i = h.raw.indexOf(bytes, i + 1)) {
    if (isPrefixedLine(h, i, needle.length, from, pidStart, pidEnd)) return true;
  }
  return false;
}

/**
 * Whether an oslo ContextFormatter record carries a traceback: the phrase
 * `Traceback (most recent call last)` anywhere in the text (this also flags a
 * traceback line cut out of its record by broken LF framing), or a later line,
 * after a raw LF or rsyslog's `#012`, that starts with this record's exception
 * prefix. Linear in the body, no regex.
 */
export function hasTraceback(h: Head, from: number, pidStart: number, pidEnd: number, lgStart: number, lgEnd: number): boolean {
  return hasPhrase(h, from) || hasPrefixedLine(h, from, pidStart, pidEnd, lgStart, lgEnd);
}
