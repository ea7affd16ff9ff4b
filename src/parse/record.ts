import { type Head, at, makeHead, text } from './head.js';
import { parseContextLine } from './oslo-context.js';
import { parseOsloJson } from './oslo-json.js';
import { parsePri } from './pri.js';
import { legacyTsEnd, parseHostTag, rfc3339TsEnd } from './rfc3164.js';
import { parse5424 } from './rfc5424.js';
import type { OsloFields, ParsedFields } from './types.js';

/**
 * oslo fields from the message text at p: skip a UTF-8 BOM (RFC 5424 allows one
 * before MSG) and leading spaces (rsyslog's RFC 5424 templates keep MSG's own
 * leading space), then JSON if it starts with `{`, else a ContextFormatter line.
 */
function parseOslo(h: Head, p: number): OsloFields | null {
  if (at(h, p) === 0xef && at(h, p + 1) === 0xbb && at(h, p + 2) === 0xbf) p += 3;
  while (at(h, p) === 0x20) p++;
  if (p >= h.n) return null;
  return h.raw[p] === 0x7b ? parseOsloJson(h, p) : parseContextLine(h, p);
}

/** Sets fmt and header fields; returns where the message text starts. */
function parseHeader(h: Head, f: ParsedFields): number {
  const pri = parsePri(h);
  if (pri === null) return 0;
  f.fmt = 'bare';
  f.pri = pri.pri;
  f.facility = pri.pri >> 3;
  f.severity = pri.pri & 7;
  const p = pri.next;
  const c = at(h, p);
  if (c >= 0x31 && c <= 0x39) {
    const m = parse5424(h, p, f);
    if (m >= 0) return m;
  }
  let e = rfc3339TsEnd(h, p);
  if (e >= 0) {
    f.fmt = 'rfc3339';
  } else if ((e = legacyTsEnd(h, p)) >= 0) {
    f.fmt = 'rfc3164';
  } else {
    return p;
  }
  f.ts = text(h, p, e);
  return parseHostTag(h, e + 1, f);
}

/**
 * The parser proper. May throw only on a bug; parseRecord wraps it. Exported
 * separately so tests can see such a bug instead of the fallback.
 */
export function parseRecordUnchecked(raw: Buffer): ParsedFields {
  const f: ParsedFields = {
    fmt: 'nopri', pri: null, facility: null, severity: null, ts: null,
    host: null, app: null, procid: null, msgid: null, sd: null, oslo: null,
  };
  const h = makeHead(raw);
  const msg = parseHeader(h, f);
  f.oslo = parseOslo(h, msg);
  return f;
}
