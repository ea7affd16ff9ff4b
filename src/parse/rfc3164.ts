import { type Head, at, digitsAt, indexIn, text, tokenEnd } from './head.js';
import type { ParsedFields } from './types.js';

const SP = 0x20;
const COLON = 0x3a;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function clockAt(h: Head, i: number): boolean {
  return digitsAt(h, i, 2) && at(h, i + 2) === COLON && digitsAt(h, i + 3, 2) &&
    at(h, i + 5) === COLON && digitsAt(h, i + 6, 2);
}

function monthAt(h: Head, p: number): boolean {
  const a = at(h, p);
  const b = at(h, p + 1);
  const c = at(h, p + 2);
  for (const m of MONTHS) {
    if (m.charCodeAt(0) === a && m.charCodeAt(1) === b && m.charCodeAt(2) === c) return true;
  }
  return false;
}

/**
 * `Mmm dd hh:mm:ss` at p (day space-padded as glibc writes it, or a lone digit),
 * optionally with `.fraction`. Returns the index after it, or -1. It must be
 * followed by SP or the end of the message.
 */
export function legacyTsEnd(h: Head, p: number): number {
  if (!monthAt(h, p) || at(h, p + 3) !== SP) return -1;
  let i = p + 4;
  if (at(h, i) === SP && digitsAt(h, i + 1, 1)) i += 2;
  else if (digitsAt(h, i, 2)) i += 2;
  else if (digitsAt(h, i, 1)) i += 1;
  else return -1;
  if (at(h, i) !== SP || !clockAt(h, i + 1)) return -1;
  i += 9;
  if (at(h, i) === 0x2e && digitsAt(h, i + 1, 1)) {
    i++;
    while (digitsAt(h, i, 1)) i++;
  }
  return i === h.end || at(h, i) === SP ? i : -1;
}

/** `YYYY-MM-DDThh:mm:ss...` at p (rsyslog ForwardFormat); returns the end of that token, or -1. */
export function rfc3339TsEnd(h: Head, p: number): number {
  if (!digitsAt(h, p, 4) || at(h, p + 4) !== 0x2d || !digitsAt(h, p + 5, 2) ||
    at(h, p + 7) !== 0x2d || !digitsAt(h, p + 8, 2)) return -1;
  const t = at(h, p + 10);
  if ((t !== 0x54 && t !== 0x74) || !clockAt(h, p + 11)) return -1;
  const e = tokenEnd(h, p + 19);
  return e === h.end || at(h, e) === SP ? e : -1;
}

/**
 * `[HOST SP] TAG[ "[" PID "]" ][":"] SP MSG` at p. Like rsyslog: the first word is the
 * HOST only if it is followed by SP and does not look like a tag (ends in `:` or has
 * `[`), which covers glibc's local format that omits HOST. The TAG runs to the first
 * `:` or space, so a TAG without colon (rsyslog taking oslo's date as TAG) is kept.
 * Returns where MSG starts.
 */
export function parseHostTag(h: Head, p: number, f: ParsedFields): number {
  const n = h.n;
  if (p >= n) return Math.min(p, h.end);
  const w1 = tokenEnd(h, p);
  const tagLike = at(h, w1 - 1) === COLON || indexIn(h, 0x5b, p, w1) >= 0;
  if (!tagLike && at(h, w1) === SP) {
    f.host = text(h, p, w1);
    p = w1 + 1;
  }
  let k = p;
  for (let c = at(h, k); c > SP && c !== COLON; c = at(h, ++k));
  // A TAG running into the window edge is not a TAG we can trust.
  if (k === n && n < h.end) return p;
  const lb = indexIn(h, 0x5b, p, k);
  if (lb >= 0 && at(h, k - 1) === 0x5d) {
    f.app = text(h, p, lb);
    f.procid = text(h, lb + 1, k - 1);
  } else {
    f.app = text(h, p, k);
  }
  if (at(h, k) === COLON) k++;
  if (at(h, k) === SP) k++;
  return Math.min(k, h.end);
}
