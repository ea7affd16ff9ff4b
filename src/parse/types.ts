/**
 * Header shape of a record:
 * - `rfc5424`  `<PRI>1 TS HOST APP PROCID MSGID SD [MSG]`
 * - `rfc3164`  `<PRI>Mmm dd hh:mm:ss [HOST] TAG: MSG`
 * - `rfc3339`  `<PRI>2026-11-26T12:55:48.748101+00:00 [HOST] TAG: MSG` (rsyslog ForwardFormat)
 * - `bare`     `<PRI>text` (Python SysLogHandler), or a PRI followed by a header we could not accept
 * - `nopri`    no valid PRI at all
 */
export type HeaderFormat = 'rfc5424' | 'rfc3164' | 'rfc3339' | 'bare' | 'nopri';

export interface OsloFields {
  kind: 'context' | 'json';
  time: string | null;
  pid: number | null;
  level: string | null;
  logger: string | null;
  request_id: string | null;
  global_request_id: string | null;
  user: string | null;
  project: string | null;
  instance: string | null;
  exception: boolean;
}

export interface ParsedFields {
  fmt: HeaderFormat;
  pri: number | null;
  facility: number | null;
  severity: number | null;
  ts: string | null;
  host: string | null;
  app: string | null;
  procid: string | null;
  msgid: string | null;
  sd: string | null;
  oslo: null | OsloFields;
}
