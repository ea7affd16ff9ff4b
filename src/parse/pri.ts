import { type Head, at } from './head.js';

/** RFC 5424 §6.2.1: facility 0-23 × 8 + severity 0-7. */
export const MAX_PRI = 191;

/**
 * Reads `<PRI>` at the start of the record. Returns the PRI value and the index
 * after `>`, or null when there is no valid PRI (missing, not 1-3 digits, or >
 * MAX_PRI). Leading zeros (`<013>`) are accepted: RFC 5424 forbids them, but the
 * value is unambiguous and rejecting would lose the whole header.
 */
export function parsePri(h: Head): { pri: number; next: number } | null {
  if (at(h, 0) !== 0x3c) return null;
  let v = 0;
  let i = 1;
  for (; i <= 3; i++) {
    const c = at(h, i);
    if (c >= 0x30 && c <= 0x39) v = v * 10 + (c - 0x30);
    else break;
  }
  if (i === 1 || at(h, i) !== 0x3e || v > MAX_PRI) return null;
  return { pri: v, next: i + 1 };
}
