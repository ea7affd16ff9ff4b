import { isUtf8 } from 'node:buffer';
import { FLAG_INVALID_UTF8 } from './flags.js';

/** How often the microsecond clock is re-based on the wall clock, so NTP corrections reach it. */
const RESYNC_NS = 1_000_000_000n;
let originUs = Date.now() * 1000;
let originHr = process.hrtime.bigint();

/** Receive time in microseconds; Date.now() alone would make every entry of one millisecond tie. */
export function nowUs(): number {
  const hr = process.hrtime.bigint();
  if (hr - originHr > RESYNC_NS) {
    originUs = Date.now() * 1000;
    originHr = hr;
  }
  return originUs + Number((hr - originHr) / 1000n);
}

export function utf8Flag(raw: Buffer): number {
  return isUtf8(raw) ? 0 : FLAG_INVALID_UTF8;
}
