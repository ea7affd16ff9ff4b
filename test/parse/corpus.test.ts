import { describe, expect, it } from 'vitest';
import { PARSER_VERSION, fieldsFromJson, fieldsToJson, parseRecord, type ParsedFields } from '../../src/parse/index.js';
import { loadCorpus, loadManifest, type ScriptEntry } from './corpus.js';

// Every datagram / stream frame of test/corpus/wire is checked field by field
// against what the capture is known to contain: the oslo message script
// (MANIFEST.json message_script, M01..M16), the case's facility and header shape,
// and the ids the Tacker simulator uses.

const GLOBAL = 'req-0d1c2b3a-4f5e-6a7b-8c9d-0e1f2a3b4c5d';
const REQ = 'req-3f5c6b1e-8a8e-4c0e-9d7a-2b1f0c9e7a11';
const REQ_M14 = 'req-7e6d5c4b-3a29-4817-9605-f4e3d2c1b0a9';
const USER = '9a0b4d6e1f2c4e5a8b7c6d5e4f3a2b1c';
const PROJECT = '2c7e9f1a3b5d4c6e8f0a1b2c3d4e5f60';
const VNF = '6b0c5a2e-1d3f-4a9b-8c7d-5e4f3a2b1c0d';

/** Both oslo handlers map these levels the same way (oslo-log.md §5). */
const SEVERITY: Record<string, number> = { CRITICAL: 2, ERROR: 3, WARNING: 4, INFO: 6, DEBUG: 7 };
const SYSLOG_FACILITY = 5;

const TS_3164 = /^Nov 26 \d\d:\d\d:\d\d$/;
const TS_3339 = /^2026-11-26T\d\d:\d\d:\d\d\.\d{6}\+00:00$/;
/** oslo with log_date_format: `2026-11-26 12:55:41.106`. */
const T_OSLO = /^2026-11-26 \d\d:\d\d:\d\d\.\d{3}$/;
/** logging.conf without datefmt: Python asctime plus oslo's msecs again, `12:55:44,694.694`. */
const T_PY = /^2026-11-26 \d\d:\d\d:\d\d,(\d{3})\.\1$/;
/** The same after rsyslog took the date as TAG/APP-NAME. */
const T_PY_SPLIT = /^\d\d:\d\d:\d\d,(\d{3})\.\1$/;
const T_JSON_OSLO = /^2026-11-26 \d\d:\d\d:\d\d$/;
const T_JSON_PY = /^2026-11-26 \d\d:\d\d:\d\d,\d{3}$/;
const TIME_QUALITY = '[timeQuality tzKnown="1" isSynced="0"]';

type Frame =
  | { k: 'M'; id: number } // a whole oslo record
  | { k: 'first'; id: number } // first line of a record cut up by LF framing
  | { k: 'tb'; exc: boolean } // one M07 traceback line cut out by LF framing
  | { k: 'frag' } // a non-oslo piece cut out by LF framing
  | { k: 'start' } // rsyslogd's own start message
  | { k: 'warn' } // rsyslogd's omfwd/udp truncation warning
  | { k: 'logger' }; // util-linux logger text

interface Spec {
  fmt: ParsedFields['fmt'];
  facility: number;
  ts: RegExp | null;
  host: string | null;
  app: string | null;
  sd?: string;
  oslo?: { kind: 'context' | 'json'; time: RegExp; pid: number };
  frames: Frame[];
}

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const msgs = (ids: number[]): Frame[] => ids.map((id) => ({ k: 'M', id }));
const ALL = msgs(range(1, 16));
/** UDP through Python's SysLogHandler: M13 (70 KB) failed with EMSGSIZE. */
const NO_M13 = msgs([...range(1, 12), 14, 15, 16]);
const logger = (count: number): Frame[] => Array.from({ length: count }, () => ({ k: 'logger' }));
const MULTILINE_LF: Frame[] = [{ k: 'logger' }, { k: 'frag' }, { k: 'frag' }];
const frag = (count: number): Frame[] => Array.from({ length: count }, () => ({ k: 'frag' }));
/** M07's 16 traceback lines; two of them are `... Traceback (most recent call last):`. */
const M07_LINES: Frame[] = range(0, 15).map((i) => ({ k: 'tb', exc: i === 0 || i === 9 }));
/** rsyslog noescape + LF framing: raw LFs split M07, M10 and M11 (39 pieces for 18 messages). */
const BROKEN_LF: Frame[] = [
  { k: 'start' }, ...msgs(range(1, 6)), { k: 'first', id: 7 }, ...M07_LINES, ...msgs([8, 9]),
  { k: 'first', id: 10 }, ...frag(3), { k: 'first', id: 11 }, ...frag(2), ...msgs(range(12, 16)), { k: 'warn' },
];

const DEVLOG = { fmt: 'rfc3164', facility: 1, ts: TS_3164, host: null, app: 'tacker-server' } as const;
const BARE = { fmt: 'bare', ts: null, host: null, app: null } as const;
const RELAY_5424 = { fmt: 'rfc5424', facility: 16, ts: TS_3339, host: 'vm', app: 'tacker-server' } as const;
const RELAY_3339 = { ...RELAY_5424, fmt: 'rfc3339' } as const;
const RELAY_3164 = { ...RELAY_5424, fmt: 'rfc3164', ts: TS_3164 } as const;
const STOCK = { kind: 'context', time: T_OSLO, pid: 22568 } as const;
const NOESCAPE = { kind: 'context', time: T_OSLO, pid: 22712 } as const;
const PYHANDLER = { kind: 'context', time: T_PY_SPLIT, pid: 22774 } as const;
const LOGGER_3164 = { fmt: 'rfc3164', facility: 16, ts: TS_3164, host: 'vm', app: 'tacker-server' } as const;
const LOGGER_5424 = { ...LOGGER_3164, fmt: 'rfc5424', ts: TS_3339, sd: TIME_QUALITY } as const;

const SPECS: Record<string, Spec> = {
  'oslo-syslog-devlog': { ...DEVLOG, oslo: { kind: 'context', time: T_OSLO, pid: 22229 }, frames: ALL },
  'oslo-syslog-devlog-stream': { ...DEVLOG, oslo: { kind: 'context', time: T_OSLO, pid: 22243 }, frames: ALL },
  'oslo-syslog-json-devlog': { ...DEVLOG, facility: 17, oslo: { kind: 'json', time: T_JSON_OSLO, pid: 22271 }, frames: ALL },
  'oslo-sysloghandler-devlog': { ...BARE, facility: 1, oslo: { kind: 'context', time: T_PY, pid: 22317 }, frames: ALL },
  'oslo-sysloghandler-udp': { ...BARE, facility: 16, oslo: { kind: 'context', time: T_PY, pid: 22369 }, frames: NO_M13 },
  'oslo-sysloghandler-tcp': { ...BARE, facility: 16, oslo: { kind: 'context', time: T_PY, pid: 22496 }, frames: ALL },
  'oslo-jsonformatter-udp': { ...BARE, facility: 17, oslo: { kind: 'json', time: T_JSON_PY, pid: 22506 }, frames: NO_M13 },
  'rsyslog-tcp-rfc5424-octet': { ...RELAY_5424, oslo: STOCK, frames: [{ k: 'start' }, ...ALL] },
  'rsyslog-tcp-rfc5424-lf': { ...RELAY_5424, oslo: STOCK, frames: [{ k: 'start' }, ...ALL] },
  'rsyslog-udp-rfc5424': { ...RELAY_5424, oslo: STOCK, frames: [{ k: 'start' }, ...ALL] },
  'rsyslog-tcp-syslogrfc5424format-octet': { ...RELAY_5424, oslo: STOCK, frames: [{ k: 'start' }, ...ALL] },
  'rsyslog-udp-forwardformat': { ...RELAY_3339, oslo: STOCK, frames: [{ k: 'start' }, ...ALL] },
  'rsyslog-udp-legacy': { ...RELAY_3164, oslo: STOCK, frames: [{ k: 'start' }, ...ALL] },
  'rsyslog-tcp-legacy': { ...RELAY_3164, oslo: STOCK, frames: [{ k: 'start' }, ...ALL] },
  'rsyslog-noescape-tcp-rfc5424-octet': { ...RELAY_5424, oslo: NOESCAPE, frames: [{ k: 'start' }, ...ALL, { k: 'warn' }] },
  'rsyslog-noescape-tcp-rfc5424-lf': { ...RELAY_5424, oslo: NOESCAPE, frames: BROKEN_LF },
  'rsyslog-noescape-udp-forwardformat': { ...RELAY_3339, oslo: NOESCAPE, frames: [{ k: 'start' }, ...ALL, { k: 'warn' }] },
  'rsyslog-pyhandler-tcp-rfc5424-octet': {
    ...RELAY_5424, facility: 1, app: '2026-11-26', oslo: PYHANDLER, frames: [{ k: 'start' }, ...ALL],
  },
  'rsyslog-pyhandler-udp-forwardformat': {
    ...RELAY_3339, facility: 1, app: '2026-11-26', oslo: PYHANDLER, frames: [{ k: 'start' }, ...ALL],
  },
  'logger-udp-rfc3164': { ...LOGGER_3164, frames: logger(15) },
  'logger-udp-rfc5424': { ...LOGGER_5424, frames: logger(15) },
  'logger-tcp-rfc3164': { ...LOGGER_3164, frames: logger(13) },
  'logger-tcp-rfc3164-multiline-arg': { ...LOGGER_3164, frames: MULTILINE_LF },
  'logger-tcp-rfc3164-octet': { ...LOGGER_3164, frames: logger(13) },
  'logger-tcp-rfc3164-octet-multiline-arg': { ...LOGGER_3164, frames: logger(1) },
  'logger-tcp-rfc5424': { ...LOGGER_5424, frames: logger(13) },
  'logger-tcp-rfc5424-multiline-arg': { ...LOGGER_5424, frames: MULTILINE_LF },
  'logger-tcp-rfc5424-octet': { ...LOGGER_5424, frames: logger(13) },
  'logger-tcp-rfc5424-octet-multiline-arg': { ...LOGGER_5424, frames: logger(1) },
};

function context(id: number): Pick<NonNullable<ParsedFields['oslo']>, 'request_id' | 'global_request_id' | 'user' | 'project' | 'instance'> {
  if (id <= 3 || id === 16) return { request_id: null, global_request_id: null, user: null, project: null, instance: null };
  // M14's context has no global_request_id (rendered "None") and a resource_uuid.
  if (id === 14) return { request_id: REQ_M14, global_request_id: null, user: USER, project: PROJECT, instance: VNF };
  return { request_id: REQ, global_request_id: GLOBAL, user: USER, project: PROJECT, instance: null };
}

const NO_HEADER = {
  fmt: 'nopri', pri: null, facility: null, severity: null, ts: null, host: null, app: null, procid: null, msgid: null, sd: null,
} as const;

function header(spec: Spec, pri: number): Omit<ParsedFields, 'oslo'> {
  return {
    fmt: spec.fmt,
    pri,
    facility: pri >> 3,
    severity: pri & 7,
    ts: spec.ts === null ? null : (expect.stringMatching(spec.ts) as unknown as string),
    host: spec.host,
    app: spec.app,
    procid: null,
    msgid: null,
    sd: spec.sd ?? null,
  };
}

function expected(spec: Spec, frame: Frame, script: Map<number, ScriptEntry>): ParsedFields {
  const rsyslogd = (pri: number): ParsedFields => ({ ...header(spec, pri), app: 'rsyslogd', host: 'vm', oslo: null });
  switch (frame.k) {
    case 'start':
      return rsyslogd(SYSLOG_FACILITY * 8 + 6);
    case 'warn':
      return rsyslogd(SYSLOG_FACILITY * 8 + 3);
    case 'logger':
      return { ...header(spec, 16 * 8 + 6), oslo: null };
    case 'frag':
      return { ...NO_HEADER, oslo: null };
    case 'tb':
      return {
        ...NO_HEADER,
        oslo: {
          kind: 'context', time: expect.stringMatching(spec.oslo!.time) as unknown as string, pid: spec.oslo!.pid,
          level: 'ERROR', logger: 'tacker.vnfm.plugin', ...context(1), exception: frame.exc,
        },
      };
    case 'M':
    case 'first': {
      const m = script.get(frame.id)!;
      return {
        ...header(spec, spec.facility * 8 + SEVERITY[m.level]!),
        oslo: {
          kind: spec.oslo!.kind,
          time: expect.stringMatching(spec.oslo!.time) as unknown as string,
          pid: spec.oslo!.pid,
          level: m.level,
          logger: m.logger,
          ...context(frame.id),
          // LOG.exception() in M07 is the only record with a traceback.
          exception: frame.k === 'M' && frame.id === 7,
        },
      };
    }
  }
}

const manifest = loadManifest();
const corpus = loadCorpus(manifest);
const script = new Map(manifest.message_script.map((m) => [Number(m.id.slice(1)), m]));

describe('wire corpus', () => {
  it('has the 16-message script these expectations are written against', () => {
    expect(manifest.message_script.map((m) => `${m.id} ${m.level} ${m.logger}`)).toEqual([
      'M01 INFO tacker.common.config', 'M02 INFO tacker.common.config', 'M03 DEBUG tacker.common.config',
      'M04 INFO tacker.wsgi', 'M05 DEBUG tacker.vnfm.plugin', 'M06 WARNING tacker.nfvo.nfvo_plugin',
      'M07 ERROR tacker.vnfm.plugin', 'M08 ERROR tacker.vnfm.plugin', 'M09 INFO tacker.api.vnfpkgm.v1.controller',
      'M10 INFO tacker.nfvo.nfvo_plugin', 'M11 WARNING tacker.nfvo.nfvo_plugin', 'M12 INFO tacker.vnfm.plugin',
      'M13 INFO tacker.vnfm.plugin', 'M14 INFO tacker.vnflcm.vnflcm_driver', 'M15 CRITICAL tacker.service',
      'M16 INFO tacker.conductor.conductor_server',
    ]);
  });

  it('has an expectation for every case in MANIFEST.json, and no others', () => {
    expect(corpus.map((c) => c.name).sort()).toEqual(Object.keys(SPECS).sort());
  });

  for (const c of corpus) {
    it(`${c.name}: every frame parses to the expected fields`, () => {
      const spec = SPECS[c.name]!;
      expect(c.frames.length).toBe(spec.frames.length);
      c.frames.forEach((raw, i) => {
        const f = parseRecord(raw);
        expect(f, `${c.name} frame ${i} (${JSON.stringify(spec.frames[i])})`).toEqual(expected(spec, spec.frames[i]!, script));
        expect(fieldsFromJson(fieldsToJson(f))).toEqual({ v: PARSER_VERSION, ...f });
      });
    });
  }

  it('parses the RFC 5424 MSG, not the header, for oslo fields (two spaces after SD "-")', () => {
    const raw = corpus.find((c) => c.name === 'rsyslog-tcp-rfc5424-octet')!.frames[1]!;
    expect(raw.toString('latin1')).toContain(' - - -  2026-11-26 ');
    expect(parseRecord(raw).oslo?.time).toMatch(T_OSLO);
  });

  it('finds the traceback of M07 whether raw LFs or #012 escapes separate its lines', () => {
    const raw = (name: string, i: number): string => corpus.find((c) => c.name === name)!.frames[i]!.toString('latin1');
    expect(raw('rsyslog-tcp-rfc5424-octet', 7)).toContain('#012');
    expect(raw('rsyslog-noescape-tcp-rfc5424-octet', 7)).toContain('\n2026-11-26 ');
  });
});
