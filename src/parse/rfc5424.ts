import { type Head, digitsAt, text, tokenEnd } from './head.js';
import type { ParsedFields } from './types.js';

const SP = 0x20;
const DASH = 0x2d;

/** `-` is the RFC 5424 NILVALUE. */
function nilOr(h: Head, a: number, b: number): string | null {
  if (b - a === 1 && h.s.charCodeAt(a) === DASH) return null;
  return text(h, a, b);
}

/** FULL-DATE "T": enough to tell a timestamp from free text that happens to follow `<PRI>1 `. */
function looksLikeTimestamp(s: string, a: number, b: number): boolean {
  if (b - a === 1 && s.charCodeAt(a) === DASH) return true;
  if (b - a < 11 || !digitsAt(s, a, 4) || !digitsAt(s, a + 5, 2) || !digitsAt(s, a + 8, 2)) return false;
  const t = s.charCodeAt(a + 10);
  return s.charCodeAt(a + 4) === DASH && s.charCodeAt(a + 7) === DASH && (t === 0x54 || t === 0x74);
}

/**
 * End of STRUCTURED-DATA starting at `[`, or -1. Quote-aware so that `]` inside a
 * PARAM-VALUE (escaped or not) does not end the element; bounded by the head window.
 */
function sdEnd(s: string, i: number): number {
  const n = s.length;
  while (s.charCodeAt(i) === 0x5b) {
    const id = s.charCodeAt(i + 1);
    // SD-ID must be non-empty.
    if (!(id > SP) || id === 0x5d || id === 0x3d || id === 0x22) return -1;
    let inQuote = false;
    for (i++; i < n; i++) {
      const c = s.charCodeAt(i);
      if (inQuote) {
        if (c === 0x5c) i++;
        else if (c === 0x22) inQuote = false;
      } else if (c === 0x22) inQuote = true;
      else if (c === 0x5d) break;
    }
    if (i >= n) return -1;
    i++;
  }
  return i;
}

/**
 * Parses `VERSION SP TS SP HOST SP APP SP PROCID SP MSGID SP SD [SP MSG]` at p (just
 * after `<PRI>`). On success fills f's header fields and returns where MSG starts;
 * on any deviation returns -1 and leaves f untouched, so the caller can fall back.
 * Field bytes may be anything above 0x20 (RFC: PRINTUSASCII); lengths are not
 * enforced beyond the head window, because rejecting would lose all of them.
 */
export function parse5424(h: Head, p: number, f: ParsedFields): number {
  const s = h.s;
  const n = s.length;
  // VERSION = NONZERO-DIGIT 0*2DIGIT
  const v0 = s.charCodeAt(p);
  if (!(v0 >= 0x31 && v0 <= 0x39)) return -1;
  let i = p + 1;
  while (i < p + 3 && digitsAt(s, i, 1)) i++;
  if (s.charCodeAt(i) !== SP) return -1;
  i++;

  const starts = [0, 0, 0, 0, 0];
  const ends = [0, 0, 0, 0, 0];
  for (let k = 0; k < 5; k++) {
    const e = tokenEnd(s, i);
    if (e === i || s.charCodeAt(e) !== SP) return -1;
    starts[k] = i;
    ends[k] = e;
    i = e + 1;
  }
  if (!looksLikeTimestamp(s, starts[0], ends[0])) return -1;

  const sdStart = i;
  let sdStop: number;
  if (s.charCodeAt(i) === DASH) sdStop = i + 1;
  else if ((sdStop = sdEnd(s, i)) < 0) return -1;

  let msg: number;
  if (sdStop === h.end) msg = h.end;
  else if (sdStop < n && s.charCodeAt(sdStop) === SP) msg = sdStop + 1;
  else return -1;

  f.fmt = 'rfc5424';
  f.ts = nilOr(h, starts[0], ends[0]);
  f.host = nilOr(h, starts[1], ends[1]);
  f.app = nilOr(h, starts[2], ends[2]);
  f.procid = nilOr(h, starts[3], ends[3]);
  f.msgid = nilOr(h, starts[4], ends[4]);
  f.sd = nilOr(h, sdStart, sdStop);
  return msg;
}
