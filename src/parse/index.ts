import { parseRecordUnchecked } from './record.js';
import type { ParsedFields } from './types.js';

export type { HeaderFormat, OsloFields, ParsedFields } from './types.js';
export { fieldsToJson, fieldsFromJson, FieldsJsonError } from './canonical.js';
export { writeFieldsJson, NO_ROOM } from './canonical-bytes.js';

export { PARSER_VERSION } from './version.js';
export { fieldsChoice, fieldsRefusal, FIELDS_ENV, type FieldsChoice, type NativeFields } from './native-fields.js';

/**
 * Parses one received syslog record (framing already removed). Pure: no I/O,
 * deterministic, linear in the input, never throws. The shapes and fields: README, "Parsing".
 */
export function parseRecord(raw: Buffer): ParsedFields {
  try {
    // Callers outside TypeScript may hand over a plain Uint8Array; view it, don't copy.
    const u = raw as Uint8Array;
    return parseRecordUnchecked(Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));
  } catch {
    // Unreachable unless the parser has a bug; losing fields beats losing the record.
    return {
      fmt: 'nopri', pri: null, facility: null, severity: null, ts: null,
      host: null, app: null, procid: null, msgid: null, sd: null, oslo: null,
    };
  }
}
