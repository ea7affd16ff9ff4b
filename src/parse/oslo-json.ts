import type { Head } from './head.js';
import { MAX_JSON_BYTES } from './limits.js';
import type { OsloFields } from './types.js';

/** Rejects invalid UTF-8 instead of guessing: a record that is not valid UTF-8 is not oslo's JSON. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function isJsonSpace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Same "no value" rule as the text form, where None renders as `None` and missing as `-`. */
function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' && v !== '-' && v !== 'None' ? v : null;
}

function first(o: Obj, keys: readonly string[]): string | null {
  for (const k of keys) {
    const v = str(o[k]);
    if (v !== null) return v;
  }
  return null;
}

/** ContextFormatter takes the record's `instance`/`instance_uuid` first, then the context's. */
function instanceOf(rec: Obj, ctx: Obj): string | null {
  const extra = isObj(rec['extra']) ? rec['extra'] : {};
  for (const src of [extra, ctx]) {
    const inst = src['instance'];
    if (isObj(inst) && str(inst['uuid']) !== null) return str(inst['uuid']);
    const v = first(src, ['instance_uuid', 'instance']);
    if (v !== null) return v;
  }
  return str(ctx['resource_uuid']);
}

/** oslo writes `traceback: null`, or a list of lines; an empty list or string carries nothing. */
function carriesTraceback(tb: unknown): boolean {
  if (tb === null || tb === undefined || tb === false) return false;
  if (Array.isArray(tb) || typeof tb === 'string') return tb.length > 0;
  return true;
}

/**
 * oslo.log JSONFormatter output: raw[p, end) must be one JSON object (`{` ... `}`),
 * valid UTF-8, at most MAX_JSON_BYTES, and JSON.parse must accept it. A record
 * truncated by a relay fails this and yields null rather than guessed fields.
 */
export function parseOsloJson(h: Head, p: number): OsloFields | null {
  const raw = h.raw;
  let end = h.end;
  while (end > p && isJsonSpace(raw[end - 1])) end--;
  if (end - p > MAX_JSON_BYTES || end - p < 2 || raw[p] !== 0x7b || raw[end - 1] !== 0x7d) return null;
  let rec: unknown;
  try {
    rec = JSON.parse(strictUtf8.decode(raw.subarray(p, end)));
  } catch {
    return null;
  }
  if (!isObj(rec)) return null;
  const ctx = isObj(rec['context']) ? rec['context'] : {};
  const pid = rec['process'];
  return {
    kind: 'json',
    time: str(rec['asctime']),
    pid: typeof pid === 'number' && Number.isSafeInteger(pid) && pid >= 0 ? pid : null,
    level: str(rec['levelname']),
    logger: str(rec['name']),
    request_id: str(ctx['request_id']),
    global_request_id: str(ctx['global_request_id']),
    user: first(ctx, ['user', 'user_id', 'user_name']),
    project: first(ctx, ['project', 'project_id', 'tenant', 'project_name']),
    instance: instanceOf(rec, ctx),
    exception: carriesTraceback(rec['traceback']),
  };
}
