import { PARSER_VERSION } from './version.js';
import type { OsloFields, ParsedFields } from './types.js';

const FIELD_KEYS = ['fmt', 'pri', 'facility', 'severity', 'ts', 'host', 'app', 'procid', 'msgid', 'sd'] as const;
const OSLO_KEYS = ['kind', 'time', 'pid', 'level', 'logger', 'request_id', 'global_request_id', 'user', 'project', 'instance'] as const;

/**
 * Canonical JSON of the parsed fields, as stored for the query index and re-derived by verify:
 * `v` (the parser version) first, then the keys in the fixed order of ParsedFields / OsloFields,
 * nulls and a false `exception` left out, no whitespace. Leaving the empty fields out halves
 * the bytes every entry writes; `fieldsFromJson` restores them.
 */
function str(key: string, v: string | null): string {
  return v === null ? '' : `,"${key}":${JSON.stringify(v)}`;
}

function num(key: string, v: number | null): string {
  return v === null ? '' : `,"${key}":${v}`;
}

export function fieldsToJson(f: ParsedFields): string {
  // Unrolled, in the order of FIELD_KEYS / OSLO_KEYS: this runs once per received message, and a
  // loop over the key names with dynamic property access cost more than the parse itself.
  let out = `{"v":${PARSER_VERSION},"fmt":${JSON.stringify(f.fmt)}${num('pri', f.pri)}${num('facility', f.facility)}${num('severity', f.severity)}${str('ts', f.ts)}${str('host', f.host)}${str('app', f.app)}${str('procid', f.procid)}${str('msgid', f.msgid)}${str('sd', f.sd)}`;
  const o: OsloFields | null = f.oslo;
  if (o !== null) {
    const inner = `${str('kind', o.kind)}${str('time', o.time)}${num('pid', o.pid)}${str('level', o.level)}${str('logger', o.logger)}${str('request_id', o.request_id)}${str('global_request_id', o.global_request_id)}${str('user', o.user)}${str('project', o.project)}${str('instance', o.instance)}${o.exception ? ',"exception":true' : ''}`;
    out += `,"oslo":{${inner.slice(1)}}`;
  }
  return out + '}';
}

export class FieldsJsonError extends Error {
  readonly code = 'FIELDS_JSON_INVALID';
}

/** The full ParsedFields (every key, nulls restored) from its canonical JSON. */
export function fieldsFromJson(json: string): ParsedFields & { v: number } {
  let o: Record<string, any>;
  try {
    o = JSON.parse(json);
  } catch (e) {
    throw new FieldsJsonError(`parsed fields: expected JSON, got ${JSON.stringify(json.slice(0, 40))}: ${(e as Error).message}`);
  }
  if (typeof o !== 'object' || o === null || typeof o.v !== 'number') {
    throw new FieldsJsonError(`parsed fields: expected an object with a parser version "v", got ${JSON.stringify(json.slice(0, 40))}`);
  }
  const f: Record<string, unknown> = { v: o.v };
  for (const k of FIELD_KEYS) f[k] = o[k] ?? null;
  if (o.oslo && typeof o.oslo === 'object') {
    const oslo: Record<string, unknown> = {};
    for (const k of OSLO_KEYS) oslo[k] = o.oslo[k] ?? null;
    oslo.exception = o.oslo.exception === true;
    f.oslo = oslo;
  } else {
    f.oslo = null;
  }
  return f as unknown as ParsedFields & { v: number };
}
