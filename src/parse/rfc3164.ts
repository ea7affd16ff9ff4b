import { type Head, digitsAt, indexIn, text, tokenEnd } from './head.js';
import type { ParsedFields } from './types.js';

const SP = 0x20;
const COLON = 0x3a;
const MONTHS = 'JanFebMarAprMayJunJulAugSepOctNovDec';

function clockAt(s: string, i: number): boolean {
  return digitsAt(s, i, 2) && s.charCodeAt(i + 2) === COLON && digitsAt(s, i + 3, 2) &&
    s.charCodeAt(i + 5) === COLON && digitsAt(s, i + 6, 2);
}

/**
 * `Mmm dd hh:mm:ss` at p (day space-padded as glibc writes it, or a lone digit),
 * optionally with `.fraction`. Returns the index after it, or -1. It must be
 * followed by SP or the end of the message.
 */
export function legacyTsEnd(h: Head, p: number): number {
  const s = h.s;
  const m = MONTHS.indexOf(s.slice(p, p + 3));
  if (m < 0 || m % 3 !== 0 || s.charCodeAt(p + 3) !== SP) return -1;
  let i = p + 4;
  if (s.charCodeAt(i) === SP && digitsAt(s, i + 1, 1)) i += 2;
  else if (digitsAt(s, i, 2)) i += 2;
  else if (digitsAt(s, i, 1)) i += 1;
  else return -1;
  if (s.charCodeAt(i) !== SP || !clockAt(s, i + 1)) return -1;
  i += 9;
  if (s.charCodeAt(i) === 0x2e && digitsAt(s, i + 1, 1)) {
    i++;
    while (digitsAt(s, i, 1)) i++;
  }
  return i === h.end || s.charCodeAt(i) === SP ? i : -1;
}

/** `YYYY-MM-DDThh:mm:ss...` at p (rsyslog ForwardFormat); returns the end of that token, or -1. */
export function rfc3339TsEnd(h: Head, p: number): number {
  const s = h.s;
  if (!digitsAt(s, p, 4) || s.charCodeAt(p + 4) !== 0x2d || !digitsAt(s, p + 5, 2) ||
    s.charCodeAt(p + 7) !== 0x2d || !digitsAt(s, p + 8, 2)) return -1;
  const t = s.charCodeAt(p + 10);
  if ((t !== 0x54 && t !== 0x74) || !clockAt(s, p + 11)) return -1;
  const e = tokenEnd(s, p + 19);
  return e === h.end || s.charCodeAt(e) === SP ? e : -1;
}

/**
 * `[HOST SP] TAG[ "[" PID "]" ][":"] SP MSG` at p. Like rsyslog: the first word is the
 * HOST only if it is followed by SP and does not look like a tag (ends in `:` or has
 * `[`), which covers glibc's local format that omits HOST. The TAG runs to the first
 * `:` or space, so a TAG without colon (rsyslog taking oslo's date as TAG) is kept.
 * Returns where MSG starts.
 */
export function parseHostTag(h: Head, p: number, f: ParsedFields): number {
  const s = h.s;
  const n = s.length;
  if (p >= n) return Math.min(p, h.end);
  const w1 = tokenEnd(s, p);
  const tagLike = s.charCodeAt(w1 - 1) === COLON || indexIn(s, 0x5b, p, w1) >= 0;
  if (!tagLike && w1 < n && s.charCodeAt(w1) === SP) {
    f.host = text(h, p, w1);
    p = w1 + 1;
  }
  let k = p;
  for (let c = s.charCodeAt(k); k < n && c > SP && c !== COLON; c = s.charCodeAt(++k));
  // A TAG running into the window edge is not a TAG we can trust.
  if (k === n && n < h.end) return p;
  const lb = indexIn(s, 0x5b, p, k);
  if (lb >= 0 && s.charCodeAt(k - 1) === 0x5d) {
    f.app = text(h, p, lb);
    f.procid = text(h, lb + 1, k - 1);
  } else {
    f.app = text(h, p, k);
  }
  if (s.charCodeAt(k) === COLON) k++;
  if (s.charCodeAt(k) === SP) k++;
  return Math.min(k, h.end);
}
