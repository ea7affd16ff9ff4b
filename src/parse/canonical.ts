import type { OsloFields, ParsedFields } from './types.js';

/**
 * Canonical JSON of the parsed fields: keys in the fixed order of ParsedFields /
 * OsloFields, no whitespace. The object is rebuilt key by key so the output does
 * not depend on how the input object was constructed.
 */
export function fieldsToJson(f: ParsedFields): string {
  const o: OsloFields | null = f.oslo;
  return JSON.stringify({
    fmt: f.fmt,
    pri: f.pri,
    facility: f.facility,
    severity: f.severity,
    ts: f.ts,
    host: f.host,
    app: f.app,
    procid: f.procid,
    msgid: f.msgid,
    sd: f.sd,
    oslo: o === null ? null : {
      kind: o.kind,
      time: o.time,
      pid: o.pid,
      level: o.level,
      logger: o.logger,
      request_id: o.request_id,
      global_request_id: o.global_request_id,
      user: o.user,
      project: o.project,
      instance: o.instance,
      exception: o.exception,
    },
  });
}
