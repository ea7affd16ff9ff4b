/** RFC 5424 §6.2.1: facility 0-23 × 8 + severity 0-7. */
export const MAX_PRI = 191;

/**
 * Reads `<PRI>` at the start of s. Returns the PRI value and the index after `>`,
 * or null when there is no valid PRI (missing, not 1-3 digits, or > MAX_PRI).
 * Leading zeros (`<013>`) are accepted: RFC 5424 forbids them, but the value is
 * unambiguous and rejecting would lose the whole header.
 */
export function parsePri(s: string): { pri: number; next: number } | null {
  if (s.charCodeAt(0) !== 0x3c) return null;
  let v = 0;
  let i = 1;
  for (; i <= 3; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) v = v * 10 + (c - 0x30);
    else break;
  }
  if (i === 1 || s.charCodeAt(i) !== 0x3e || v > MAX_PRI) return null;
  return { pri: v, next: i + 1 };
}
