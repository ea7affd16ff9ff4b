import { type Head, at, digitsAt, text, tokenEnd } from './head.js';
import type { ParsedFields } from './types.js';

const SP = 0x20;
const DASH = 0x2d;

/** `-` is the RFC 5424 NILVALUE. */
function nilOr(h: Head, a: number, b: number): string | null {
  if (b - a === 1 && h.raw[a] === DASH) return null;
  return text(h, a, b);
}

/** FULL-DATE "T": enough to tell a timestamp from free text that happens to follow `<PRI>1 `. */
function looksLikeTimestamp(h: Head, a: number, b: number): boolean {
  if (b - a === 1 && h.raw[a] === DASH) return true;
  if (b - a < 11 || !digitsAt(h, a, 4) || !digitsAt(h, a + 5, 2) || !digitsAt(h, a + 8, 2)) return false;
  const t = h.raw[a + 10];
  return h.raw[a + 4] === DASH && h.raw[a + 7] === DASH && (t === 0x54 || t === 0x74);
}

/**
 * End of STRUCTURED-DATA starting at `[`, or -1. Quote-aware so that `]` inside a
 * PARAM-VALUE (escaped or not) does not end the element; bounded by the head window.
 */
function sdEnd(h: Head, i: number): number {
  const raw = h.raw;
  const n = h.n;
  while (at(h, i) === 0x5b) {
    const id = at(h, i + 1);
    // SD-ID must be non-empty.
    if (id <= SP || id === 0x5d || id === 0x3d || id === 0x22) return -1;
    let inQuote = false;
    for (i++; i < n; i++) {
      const c = raw[i];
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
  // VERSION = NONZERO-DIGIT 0*2DIGIT
  const v0 = at(h, p);
  if (!(v0 >= 0x31 && v0 <= 0x39)) return -1;
  let i = p + 1;
  while (i < p + 3 && digitsAt(h, i, 1)) i++;
  if (at(h, i) !== SP) return -1;
  const ts = i + 1;
  const tsEnd = tokenEnd(h, ts);
  if (at(h, tsEnd) !== SP || !looksLikeTimestamp(h, ts, tsEnd)) return -1;
  const host = tsEnd + 1;
  const hostEnd = tokenEnd(h, host);
  if (hostEnd === host || at(h, hostEnd) !== SP) return -1;
  const app = hostEnd + 1;
  const appEnd = tokenEnd(h, app);
  if (appEnd === app || at(h, appEnd) !== SP) return -1;
  const proc = appEnd + 1;
  const procEnd = tokenEnd(h, proc);
  if (procEnd === proc || at(h, procEnd) !== SP) return -1;
  const msgid = procEnd + 1;
  const msgidEnd = tokenEnd(h, msgid);
  if (msgidEnd === msgid || at(h, msgidEnd) !== SP) return -1;

  const sd = msgidEnd + 1;
  let sdStop: number;
  if (at(h, sd) === DASH) sdStop = sd + 1;
  else if ((sdStop = sdEnd(h, sd)) < 0) return -1;

  let msg: number;
  if (sdStop === h.end) msg = h.end;
  else if (at(h, sdStop) === SP) msg = sdStop + 1;
  else return -1;

  f.fmt = 'rfc5424';
  f.ts = nilOr(h, ts, tsEnd);
  f.host = nilOr(h, host, hostEnd);
  f.app = nilOr(h, app, appEnd);
  f.procid = nilOr(h, proc, procEnd);
  f.msgid = nilOr(h, msgid, msgidEnd);
  f.sd = nilOr(h, sd, sdStop);
  return msg;
}
