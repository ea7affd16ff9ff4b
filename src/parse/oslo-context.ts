import { type Head, asciiSlice, at, bytesAt, digitsAt, indexIn, isDigit, text, tokenEnd } from './head.js';
import { MAX_CONTEXT_CHARS, MAX_INSTANCE_CHARS, MAX_PID_DIGITS } from './limits.js';
import { hasTraceback } from './oslo-exception.js';
import type { OsloFields } from './types.js';

const SP = 0x20;
const INSTANCE = '[instance: ';

function clockAt(h: Head, i: number): boolean {
  return digitsAt(h, i, 2) && at(h, i + 2) === 0x3a && digitsAt(h, i + 3, 2) &&
    at(h, i + 5) === 0x3a && digitsAt(h, i + 6, 2);
}

function dateAt(h: Head, i: number): boolean {
  return digitsAt(h, i, 4) && at(h, i + 4) === 0x2d && digitsAt(h, i + 5, 2) &&
    at(h, i + 7) === 0x2d && digitsAt(h, i + 8, 2);
}

/**
 * End of oslo's `%(asctime)s.%(msecs)03d` at p, or -1. Accepts `2026-11-26 12:55:41.106`,
 * Python's default asctime `2026-11-26 12:55:44,694.694`, and the time alone
 * (`12:55:57,762.762`) left when rsyslog took the date as TAG/APP-NAME.
 */
function timeEnd(h: Head, p: number): number {
  let q: number;
  const sep = at(h, p + 10);
  if (dateAt(h, p) && (sep === SP || sep === 0x54) && clockAt(h, p + 11)) q = p + 19;
  else if (clockAt(h, p)) q = p + 8;
  else return -1;
  for (let c = at(h, q); isDigit(c) || c === 0x2e || c === 0x2c; c = at(h, ++q));
  return q;
}

/**
 * Start/end offsets of the first four space-separated tokens of the context.
 * Module-level scratch: parsing is synchronous and never re-entered.
 */
const tok = new Int32Array(8);

/** `-` (missing value), `None` (attribute present but None) and empty mean "no value". */
function idOrNull(h: Head, k: number, ascii: boolean): string | null {
  const a = tok[2 * k];
  const b = tok[2 * k + 1];
  if (b - a === 1 && h.raw[a] === 0x2d) return null;
  if (b - a === 4 && bytesAt(h, a, 'None')) return null;
  return ascii ? asciiSlice(h, a, b) : text(h, a, b);
}

function isReqId(h: Head, k: number): boolean {
  return tok[2 * k + 1] - tok[2 * k] > 4 && bytesAt(h, tok[2 * k], 'req-');
}

/**
 * Reads `[<global_request_id> <request_id> <user> <project> <domain> ...]` whose
 * content starts at a, in one pass; returns the index of `]`, or -1 if there is
 * none within MAX_CONTEXT_CHARS. Tokens are split on single spaces, so a missing
 * (`''`) global id stays positional. Pre-2017 oslo formats had no global id
 * (`[<request_id> <user> <project> ...]`): when the first token is a `req-` id and
 * the second is not (or is missing), that layout is assumed. Further tokens
 * (domains) are ignored.
 */
function readContext(h: Head, a: number, o: OsloFields): number {
  const raw = h.raw;
  const stop = Math.min(h.n, a + MAX_CONTEXT_CHARS);
  let count = 0;
  let start = a;
  let high = 0;
  let close = -1;
  for (let i = a; i < stop; i++) {
    const c = raw[i];
    if (c === SP || c === 0x5d) {
      if (count < 4) {
        tok[2 * count] = start;
        tok[2 * count + 1] = i;
      }
      count++;
      start = i + 1;
      if (c === 0x5d) {
        close = i;
        break;
      }
    }
    high |= c;
  }
  if (close < 0) return -1;
  if (count === 1 && close - a === 1 && raw[a] === 0x2d) return close;
  const ascii = high < 0x80;
  let k = 1;
  if (isReqId(h, 0) && (count === 1 || !isReqId(h, 1))) {
    k = 0;
  } else {
    o.global_request_id = idOrNull(h, 0, ascii);
  }
  if (count > k) o.request_id = idOrNull(h, k, ascii);
  if (count > k + 1) o.user = idOrNull(h, k + 1, ascii);
  if (count > k + 2) o.project = idOrNull(h, k + 2, ascii);
  return close;
}

/**
 * Parses an oslo.log ContextFormatter line at p:
 * `TIME PID LEVEL LOGGER [CONTEXT] [instance: UUID] message`. TIME, PID, LEVEL
 * (an uppercase word) and LOGGER are required; the context and instance are
 * optional so custom format strings that drop them still yield the rest.
 * Everything must lie in the head window.
 */
export function parseContextLine(h: Head, p: number): OsloFields | null {
  const n = h.n;
  const te = timeEnd(h, p);
  if (te < 0 || at(h, te) !== SP) return null;

  const pidStart = te + 1;
  let q = pidStart;
  let pid = 0;
  for (let c = at(h, q); isDigit(c) && q - pidStart < MAX_PID_DIGITS; c = at(h, ++q)) pid = pid * 10 + (c - 0x30);
  if (q === pidStart || at(h, q) !== SP) return null;
  const pidEnd = q;

  const lvStart = ++q;
  let c = at(h, q);
  if (!(c >= 0x41 && c <= 0x5a)) return null;
  for (c = at(h, ++q); (c >= 0x41 && c <= 0x5a) || isDigit(c) || c === 0x5f; c = at(h, ++q));
  if (c !== SP) return null;
  const lvEnd = q;

  const lgStart = ++q;
  const lgEnd = tokenEnd(h, lgStart);
  if (lgEnd === lgStart || (lgEnd === n && n < h.end)) return null;

  const o: OsloFields = {
    kind: 'context',
    // Time and level were matched byte by byte above, so they are ASCII.
    time: asciiSlice(h, p, te),
    pid,
    level: asciiSlice(h, lvStart, lvEnd),
    logger: text(h, lgStart, lgEnd),
    request_id: null,
    global_request_id: null,
    user: null,
    project: null,
    instance: null,
    exception: false,
  };

  q = lgEnd;
  if (at(h, q) === SP && at(h, q + 1) === 0x5b) {
    const close = readContext(h, q + 2, o);
    if (close >= 0) {
      q = close + 1;
      if (at(h, q) === SP && bytesAt(h, q + 1, INSTANCE)) {
        const u = q + 1 + INSTANCE.length;
        const ue = indexIn(h, 0x5d, u, u + MAX_INSTANCE_CHARS);
        if (ue > u) o.instance = text(h, u, ue);
      }
    }
  }
  o.exception = hasTraceback(h, p, pidStart, pidEnd, lgStart, lgEnd);
  return o;
}
