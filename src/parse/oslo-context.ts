import { type Head, digitsAt, indexIn, isDigit, text, tokenEnd } from './head.js';
import { MAX_CONTEXT_CHARS, MAX_INSTANCE_CHARS, MAX_PID_DIGITS } from './limits.js';
import { hasTraceback } from './oslo-exception.js';
import type { OsloFields } from './types.js';

const SP = 0x20;
const INSTANCE = '[instance: ';

function clockAt(s: string, i: number): boolean {
  return digitsAt(s, i, 2) && s.charCodeAt(i + 2) === 0x3a && digitsAt(s, i + 3, 2) &&
    s.charCodeAt(i + 5) === 0x3a && digitsAt(s, i + 6, 2);
}

function dateAt(s: string, i: number): boolean {
  return digitsAt(s, i, 4) && s.charCodeAt(i + 4) === 0x2d && digitsAt(s, i + 5, 2) &&
    s.charCodeAt(i + 7) === 0x2d && digitsAt(s, i + 8, 2);
}

/**
 * End of oslo's `%(asctime)s.%(msecs)03d` at p, or -1. Accepts `2026-11-26 12:55:41.106`,
 * Python's default asctime `2026-11-26 12:55:44,694.694`, and the time alone
 * (`12:55:57,762.762`) left when rsyslog took the date as TAG/APP-NAME.
 */
function timeEnd(s: string, p: number): number {
  let q: number;
  const sep = s.charCodeAt(p + 10);
  if (dateAt(s, p) && (sep === SP || sep === 0x54) && clockAt(s, p + 11)) q = p + 19;
  else if (clockAt(s, p)) q = p + 8;
  else return -1;
  for (let c = s.charCodeAt(q); isDigit(c) || c === 0x2e || c === 0x2c; c = s.charCodeAt(++q));
  return q;
}

/** `-` (missing value), `None` (attribute present but None) and empty mean "no value". */
function idOrNull(h: Head, a: number, b: number): string | null {
  const s = h.s;
  if (b - a === 1 && s.charCodeAt(a) === 0x2d) return null;
  if (b - a === 4 && s.startsWith('None', a)) return null;
  return text(h, a, b);
}

function isReqId(s: string, a: number, b: number): boolean {
  return b - a > 4 && s.startsWith('req-', a);
}

/**
 * `[<global_request_id> <request_id> <user> <project> <domain> ...]` between a and b.
 * Tokens are split on single spaces, so a missing (`''`) global id stays positional.
 * Pre-2017 oslo formats had no global id (`[<request_id> <user> <project> ...]`): when
 * the first token is a `req-` id and the second is not, that layout is assumed.
 */
function applyContext(h: Head, a: number, b: number, o: OsloFields): void {
  const s = h.s;
  if (b - a === 1 && s.charCodeAt(a) === 0x2d) return;
  const st = [a, a, a, a, a];
  const en = [a, a, a, a, a];
  let t = 0;
  let i = a;
  while (t < 5) {
    let e = indexIn(s, SP, i, b);
    if (e < 0) e = b;
    st[t] = i;
    en[t] = e;
    t++;
    if (e >= b) break;
    i = e + 1;
  }
  let k = 0;
  if (!isReqId(s, st[1], en[1]) && isReqId(s, st[0], en[0])) k = -1;
  else o.global_request_id = idOrNull(h, st[0], en[0]);
  if (t > k + 1) o.request_id = idOrNull(h, st[k + 1], en[k + 1]);
  if (t > k + 2) o.user = idOrNull(h, st[k + 2], en[k + 2]);
  if (t > k + 3) o.project = idOrNull(h, st[k + 3], en[k + 3]);
}

/**
 * Parses an oslo.log ContextFormatter line at p:
 * `TIME PID LEVEL LOGGER [CONTEXT] [instance: UUID] message`. TIME, PID, LEVEL
 * (an uppercase word) and LOGGER are required; the context and instance are
 * optional so custom format strings that drop them still yield the rest.
 * Everything must lie in the head window.
 */
export function parseContextLine(h: Head, p: number): OsloFields | null {
  const s = h.s;
  const n = s.length;
  const te = timeEnd(s, p);
  if (te < 0 || s.charCodeAt(te) !== SP) return null;

  const pidStart = te + 1;
  let q = pidStart;
  while (q < n && q - pidStart < MAX_PID_DIGITS && isDigit(s.charCodeAt(q))) q++;
  if (q === pidStart || s.charCodeAt(q) !== SP) return null;
  const pidEnd = q;

  const lvStart = ++q;
  let c = s.charCodeAt(q);
  if (!(c >= 0x41 && c <= 0x5a)) return null;
  for (c = s.charCodeAt(++q); (c >= 0x41 && c <= 0x5a) || isDigit(c) || c === 0x5f; c = s.charCodeAt(++q));
  if (c !== SP) return null;
  const lvEnd = q;

  const lgStart = ++q;
  const lgEnd = tokenEnd(s, lgStart);
  if (lgEnd === lgStart || (lgEnd === n && n < h.end)) return null;

  const o: OsloFields = {
    kind: 'context',
    time: text(h, p, te),
    pid: Number(s.slice(pidStart, pidEnd)),
    level: s.slice(lvStart, lvEnd),
    logger: text(h, lgStart, lgEnd),
    request_id: null,
    global_request_id: null,
    user: null,
    project: null,
    instance: null,
    exception: false,
  };

  q = lgEnd;
  if (s.charCodeAt(q) === SP && s.charCodeAt(q + 1) === 0x5b) {
    const close = indexIn(s, 0x5d, q + 2, Math.min(n, q + 2 + MAX_CONTEXT_CHARS));
    if (close >= 0) {
      applyContext(h, q + 2, close, o);
      q = close + 1;
      if (s.charCodeAt(q) === SP && s.startsWith(INSTANCE, q + 1)) {
        const u = q + 1 + INSTANCE.length;
        const ue = indexIn(s, 0x5d, u, Math.min(n, u + MAX_INSTANCE_CHARS));
        if (ue > u) o.instance = text(h, u, ue);
      }
    }
  }
  o.exception = hasTraceback(h, p, [pidStart, pidEnd], [lgStart, lgEnd]);
  return o;
}
