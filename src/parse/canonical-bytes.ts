import { PARSER_VERSION } from './version.js';
import type { ParsedFields } from './types.js';

/**
 * fieldsToJson's output written as UTF-8 straight into a buffer, byte for byte the same (a
 * property test holds the two together). This runs for every received message: building the
 * JSON as a JS string allocated about five times its length in intermediate strings, the largest
 * source of garbage on the receiving thread.
 */

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const OPEN = latin1(`{"v":${PARSER_VERSION},"fmt":`);
const K = {
  pri: latin1(',"pri":'), facility: latin1(',"facility":'), severity: latin1(',"severity":'), ts: latin1(',"ts":'),
  host: latin1(',"host":'), app: latin1(',"app":'), procid: latin1(',"procid":'), msgid: latin1(',"msgid":'), sd: latin1(',"sd":'),
  oslo: latin1(',"oslo":{'),
};
/** Oslo keys, without the comma that separates them (the first one has none). */
const O = {
  kind: latin1('"kind":'), time: latin1('"time":'), pid: latin1('"pid":'), level: latin1('"level":'), logger: latin1('"logger":'),
  request_id: latin1('"request_id":'), global_request_id: latin1('"global_request_id":'), user: latin1('"user":'),
  project: latin1('"project":'), instance: latin1('"instance":'), exception: latin1('"exception":true'),
};

/** The formats the parser names (types.ts HeaderFormat): plain ASCII, so JSON.stringify only quotes them. */
const FORMATS = new Set(['rfc5424', 'rfc3164', 'rfc3339', 'bare', 'nopri']);

/** Returned when `out` has no room left; the caller grows it and writes again. */
export const NO_ROOM = -1;

function bytes(out: Buffer, o: number, b: Buffer): number {
  if (o < 0 || o + b.length > out.length) return NO_ROOM;
  // A loop: for keys of a few bytes it beats TypedArray#set's call.
  for (let i = 0; i < b.length; i++) out[o + i] = b[i]!;
  return o + b.length;
}

/** A JSON string: printable ASCII without `"` or `\` byte by byte, anything else through JSON.stringify. */
function str(out: Buffer, o: number, v: string): number {
  if (o < 0) return NO_ROOM;
  const n = v.length;
  if (o + n + 2 > out.length) return NO_ROOM;
  out[o] = 0x22;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
      const j = JSON.stringify(v);
      const len = Buffer.byteLength(j, 'utf8');
      if (o + len > out.length) return NO_ROOM;
      out.write(j, o, len, 'utf8');
      return o + len;
    }
    out[o + 1 + i] = c;
  }
  out[o + 1 + n] = 0x22;
  return o + n + 2;
}

function num(out: Buffer, o: number, v: number): number {
  if (o < 0) return NO_ROOM;
  const s = String(v);
  if (o + s.length > out.length) return NO_ROOM;
  for (let i = 0; i < s.length; i++) out[o + i] = s.charCodeAt(i);
  return o + s.length;
}

function strField(out: Buffer, o: number, key: Buffer, v: string | null): number {
  return v === null ? o : str(out, bytes(out, o, key), v);
}

function numField(out: Buffer, o: number, key: Buffer, v: number | null): number {
  return v === null ? o : num(out, bytes(out, o, key), v);
}

/** A comma before every oslo key but the first (the object's body starts at `bodyStart`). */
function sep(out: Buffer, o: number, bodyStart: number): number {
  if (o < 0 || o === bodyStart) return o;
  if (o >= out.length) return NO_ROOM;
  out[o] = 0x2c;
  return o + 1;
}

/** The largest PRI (facility 23, severity 7). */
const MAX_PRI = 191;
/**
 * `{"v":…,"fmt":…,"pri":…,"facility":…,"severity":…` for each format and PRI as the parser
 * derives them (facility = pri >> 3, severity = pri & 7), made on first use: every message
 * starts with one of these, and one copy costs less than the five fields written one by one.
 */
const HEADS = new Map<string, Buffer[]>();

function head(fmt: string, pri: number): Buffer {
  let byPri = HEADS.get(fmt);
  if (!byPri) HEADS.set(fmt, (byPri = []));
  return (byPri[pri] ??= latin1(`{"v":${PARSER_VERSION},"fmt":${JSON.stringify(fmt)},"pri":${pri},"facility":${pri >> 3},"severity":${pri & 7}`));
}

/** The canonical field JSON of `f` at out[o..]; returns the offset after it, or NO_ROOM. */
export function writeFieldsJson(out: Buffer, o: number, f: ParsedFields): number {
  let p: number;
  const pri = f.pri;
  if (pri !== null && Number.isInteger(pri) && pri >= 0 && pri <= MAX_PRI && f.facility === pri >> 3 && f.severity === (pri & 7) && FORMATS.has(f.fmt)) {
    p = bytes(out, o, head(f.fmt, pri));
  } else {
    p = str(out, bytes(out, o, OPEN), f.fmt);
    p = numField(out, p, K.pri, pri);
    p = numField(out, p, K.facility, f.facility);
    p = numField(out, p, K.severity, f.severity);
  }
  p = strField(out, p, K.ts, f.ts);
  p = strField(out, p, K.host, f.host);
  p = strField(out, p, K.app, f.app);
  p = strField(out, p, K.procid, f.procid);
  p = strField(out, p, K.msgid, f.msgid);
  p = strField(out, p, K.sd, f.sd);
  const s = f.oslo;
  if (s !== null) {
    p = bytes(out, p, K.oslo);
    const b = p;
    if (s.kind !== null) p = str(out, bytes(out, sep(out, p, b), O.kind), s.kind);
    if (s.time !== null) p = str(out, bytes(out, sep(out, p, b), O.time), s.time);
    if (s.pid !== null) p = num(out, bytes(out, sep(out, p, b), O.pid), s.pid);
    if (s.level !== null) p = str(out, bytes(out, sep(out, p, b), O.level), s.level);
    if (s.logger !== null) p = str(out, bytes(out, sep(out, p, b), O.logger), s.logger);
    if (s.request_id !== null) p = str(out, bytes(out, sep(out, p, b), O.request_id), s.request_id);
    if (s.global_request_id !== null) p = str(out, bytes(out, sep(out, p, b), O.global_request_id), s.global_request_id);
    if (s.user !== null) p = str(out, bytes(out, sep(out, p, b), O.user), s.user);
    if (s.project !== null) p = str(out, bytes(out, sep(out, p, b), O.project), s.project);
    if (s.instance !== null) p = str(out, bytes(out, sep(out, p, b), O.instance), s.instance);
    if (s.exception) p = bytes(out, sep(out, p, b), O.exception);
    if (p < 0 || p >= out.length) return NO_ROOM;
    out[p++] = 0x7d;
  }
  if (p < 0 || p >= out.length) return NO_ROOM;
  out[p] = 0x7d;
  return p + 1;
}
