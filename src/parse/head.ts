import { HEAD_WINDOW } from './limits.js';

/**
 * The bytes the header and oslo-prefix parsers look at. `s` is raw[0, min(end,
 * HEAD_WINDOW)) decoded as latin1, so s.charCodeAt(i) === raw[i] and string
 * offsets are byte offsets; one native decode per record is much cheaper than
 * one per field.
 */
export interface Head {
  raw: Buffer;
  s: string;
  /** Message end in raw: trailing `\0`, then `\n`, then `\r` (one each) are not part of the text. */
  end: number;
}

export function makeHead(raw: Buffer): Head {
  let end = raw.length;
  if (end > 0 && raw[end - 1] === 0x00) end--;
  if (end > 0 && raw[end - 1] === 0x0a) end--;
  if (end > 0 && raw[end - 1] === 0x0d) end--;
  const s = raw.toString('latin1', 0, Math.min(end, HEAD_WINDOW));
  return { raw, s, end };
}

/**
 * Field text for raw[a, b) decoded as UTF-8 (invalid sequences become U+FFFD).
 * Fields are cut at ASCII delimiters, so a valid multi-byte character is never
 * split; pure-ASCII fields skip the decoder because latin1 and UTF-8 agree there.
 */
export function text(h: Head, a: number, b: number): string | null {
  if (b <= a) return null;
  const s = h.s;
  for (let i = a; i < b; i++) {
    if (s.charCodeAt(i) >= 0x80) return h.raw.toString('utf8', a, b);
  }
  return s.slice(a, b);
}

export function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** True if s has `nn` ASCII digits at i. Out-of-range reads give NaN, which fails. */
export function digitsAt(s: string, i: number, nn: number): boolean {
  for (let k = 0; k < nn; k++) if (!isDigit(s.charCodeAt(i + k))) return false;
  return true;
}

/** End of the run of bytes > 0x20 (no space, no control) starting at i. */
export function tokenEnd(s: string, i: number): number {
  const n = s.length;
  while (i < n && s.charCodeAt(i) > 0x20) i++;
  return i;
}

/** First index of char code c in s[a, b), or -1; bounded, unlike String#indexOf. */
export function indexIn(s: string, c: number, a: number, b: number): number {
  for (let i = a; i < b; i++) if (s.charCodeAt(i) === c) return i;
  return -1;
}
