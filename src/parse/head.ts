import { HEAD_WINDOW } from './limits.js';

/**
 * A record as the header and oslo-prefix parsers see it. They read only
 * raw[0, n): everything they extract must lie in the first HEAD_WINDOW bytes of
 * the message. Bytes are read from the Buffer (typed-array loads are several
 * times cheaper than String#charCodeAt in V8); field strings are sliced from one
 * latin1 decode of the window, made on first use, because one native decode per
 * record is much cheaper than one per field.
 */
export interface Head {
  raw: Buffer;
  /** Message end: trailing `\0`, then `\n`, then `\r` (one each) are not part of the text. */
  end: number;
  /** min(end, HEAD_WINDOW). */
  n: number;
  /** raw[0, n) as latin1, so offsets in it are byte offsets in raw. */
  s: string | null;
}

export function makeHead(raw: Buffer): Head {
  let end = raw.length;
  if (end > 0 && raw[end - 1] === 0x00) end--;
  if (end > 0 && raw[end - 1] === 0x0a) end--;
  if (end > 0 && raw[end - 1] === 0x0d) end--;
  return { raw, end, n: Math.min(end, HEAD_WINDOW), s: null };
}

export function headString(h: Head): string {
  if (h.s === null) h.s = h.raw.toString('latin1', 0, h.n);
  return h.s;
}

/** Byte at i, or -1 outside the window, so callers need no separate bounds checks. */
export function at(h: Head, i: number): number {
  return i < h.n ? h.raw[i] : -1;
}

/**
 * Field text for raw[a, b) decoded as UTF-8 (invalid sequences become U+FFFD), or
 * null when empty. Fields are cut at ASCII delimiters, so a valid multi-byte
 * character is never split; pure-ASCII fields skip the UTF-8 decoder because
 * latin1 and UTF-8 agree there.
 */
export function text(h: Head, a: number, b: number): string | null {
  if (b <= a) return null;
  const raw = h.raw;
  for (let i = a; i < b; i++) {
    if (raw[i] >= 0x80) return raw.toString('utf8', a, b);
  }
  return headString(h).slice(a, b);
}

/** Like text(), for a range the caller has already matched as ASCII. */
export function asciiSlice(h: Head, a: number, b: number): string | null {
  return b <= a ? null : headString(h).slice(a, b);
}

export function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

/** True if there are `count` ASCII digits at i. */
export function digitsAt(h: Head, i: number, count: number): boolean {
  for (let k = 0; k < count; k++) if (!isDigit(at(h, i + k))) return false;
  return true;
}

/** End of the run of bytes > 0x20 (no space, no control) starting at i. */
export function tokenEnd(h: Head, i: number): number {
  const raw = h.raw;
  const n = h.n;
  while (i < n && raw[i] > 0x20) i++;
  return i;
}

/** First index of byte c in raw[a, min(b, n)), or -1. */
export function indexIn(h: Head, c: number, a: number, b: number): number {
  const raw = h.raw;
  const stop = Math.min(b, h.n);
  for (let i = a; i < stop; i++) if (raw[i] === c) return i;
  return -1;
}

/** Whether the ASCII string lit is at i. */
export function bytesAt(h: Head, i: number, lit: string): boolean {
  if (i + lit.length > h.n) return false;
  for (let k = 0; k < lit.length; k++) if (h.raw[i + k] !== lit.charCodeAt(k)) return false;
  return true;
}
