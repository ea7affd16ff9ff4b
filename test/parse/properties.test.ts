import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PARSER_VERSION, fieldsFromJson, fieldsToJson, parseRecord } from '../../src/parse/index.js';
import { parseRecordUnchecked } from '../../src/parse/record.js';
import { FIELD_KEYS, OSLO_KEYS, expectWellFormed, headerOf } from './shape.js';

const RUNS = { numRuns: 2000 };
const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

/**
 * Pieces of real syslog and oslo syntax. Concatenating random pieces reaches the
 * parser's deeper branches far more often than uniform random bytes do.
 */
const PIECES = [
  '<', '>', '<13>', '<134>', '<191>', '<192>', '<999>', '1 ', ' ', '  ', '-', '- ', '[', ']', '"', '\\', '=', ':', ': ',
  'Nov 26 12:00:00 ', 'Nov  6 01:02:03', '2026-11-26T12:55:48.748101+00:00 ', '2026-11-26 12:55:41.106 ',
  '2026-11-26 12:55:44,694.694', '12:55:57,762.762 ', '22229 ', 'INFO ', 'ERROR ', 'TRACE', 'tacker.vnfm.plugin',
  ' [-] ', '[None req-1 u p - - - -] ', '[req-a req-b u p - - default default]', '[instance: 6b0c5a2e] ', 'vm ',
  'tacker-server: ', 'tag[12]: ', '[ex@1 a="x\\"]y"]', '#012', '#015', '\n', '\r', '\r\n', '\t', '\0',
  'Traceback (most recent call last)', '{', '}', '{"levelname": "INFO", "name": "x", "process": 1}',
  '"traceback": ["a"]', '\xef\xbb\xbf', '\xff', '\xc3', '\xe2\x9c\x93', '\xed\xa0\x80',
];
const syslogish = fc
  .array(fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 4 })), { maxLength: 40 })
  .map((parts) => latin1(parts.join('')));
const anyBytes = fc.oneof(fc.uint8Array({ maxLength: 600 }).map((u) => Buffer.from(u)), syslogish);

describe('parseRecord on arbitrary input', () => {
  it('never throws and returns a well-formed object', () => {
    fc.assert(fc.property(anyBytes, (raw) => expectWellFormed(parseRecordUnchecked(raw))), RUNS);
  });

  it('is deterministic, and independent of where the bytes sit in their ArrayBuffer', () => {
    // Stream frames are subarrays of a larger receive buffer.
    fc.assert(
      fc.property(anyBytes, fc.uint8Array({ maxLength: 16 }), fc.uint8Array({ maxLength: 16 }), (raw, pre, post) => {
        const framed = Buffer.concat([pre, raw, post]).subarray(pre.length, pre.length + raw.length);
        const a = parseRecordUnchecked(raw);
        expect(parseRecordUnchecked(Buffer.from(raw))).toEqual(a);
        expect(parseRecordUnchecked(framed)).toEqual(a);
        expect(parseRecord(new Uint8Array(framed) as Buffer)).toEqual(a);
      }),
      RUNS,
    );
  });

  it('fieldsToJson round-trips through fieldsFromJson, in the fixed key order', () => {
    fc.assert(
      fc.property(anyBytes, (raw) => {
        const f = parseRecord(raw);
        const json = fieldsToJson(f);
        const { v, ...back } = fieldsFromJson(json);
        expect(v).toBe(PARSER_VERSION);
        expect(back).toEqual(f);
        expect(Object.keys(back)).toEqual(FIELD_KEYS);
        if (back.oslo) expect(Object.keys(back.oslo)).toEqual(OSLO_KEYS);
        expect(fieldsToJson(back)).toBe(json);
        expect(json).not.toMatch(/\n/);
        // Stored form: version first, no nulls (they are restored on reading).
        expect(json.startsWith(`{"v":${PARSER_VERSION}`)).toBe(true);
        expect(json).not.toMatch(/:null/);
      }),
      RUNS,
    );
  });

  it('fieldsToJson does not depend on the key order of its argument', () => {
    const f = parseRecord(latin1('<134>2026-11-26 12:55:44,694.694 22369 INFO tacker.common.config [-] Logging enabled!\0'));
    const shuffled = Object.fromEntries(Object.entries(f).reverse()) as typeof f;
    shuffled.oslo = Object.fromEntries(Object.entries(f.oslo!).reverse()) as typeof f.oslo;
    expect(fieldsToJson(shuffled)).toBe(fieldsToJson(f));
  });
});

// ---- generated valid headers ------------------------------------------------

/** RFC 5424 PRINTUSASCII (33-126). */
const printUsAscii = (min: number, max: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.integer({ min: 33, max: 126 }).map((c) => String.fromCharCode(c)), minLength: min, maxLength: max });
const nilOr = (a: fc.Arbitrary<string>): fc.Arbitrary<string> => fc.oneof(fc.constant('-'), a);
const pri = fc.integer({ min: 0, max: 191 });
const date = fc.date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true });

/** RFC 3339 with varied fraction and offset, e.g. `2026-11-26T12:55:48.748101+00:00`. */
const rfc3339 = fc
  .tuple(date, fc.constantFrom('', '.1', '.748', '.748101'), fc.constantFrom('Z', '+00:00', '-05:30', '+14:00'))
  .map(([d, frac, off]) => d.toISOString().slice(0, 19) + frac + off);

const sdParamValue = fc.string({
  unit: fc.oneof(
    fc.constantFrom('\\"', '\\\\', '\\]', ']', '[', '=', ' ', '\u00e9', '\u2713'),
    fc.integer({ min: 32, max: 126 }).map((c) => String.fromCharCode(c)).filter((c) => c !== '"' && c !== '\\'),
  ),
  maxLength: 12,
});
const sdName = fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9.@_-]{0,15}$/);
const sdElement = fc
  .tuple(sdName, fc.array(fc.tuple(sdName, sdParamValue), { maxLength: 3 }))
  .map(([id, params]) => `[${id}${params.map(([k, v]) => ` ${k}="${v}"`).join('')}]`);
const sd = fc.oneof(fc.constant('-'), fc.array(sdElement, { minLength: 1, maxLength: 3 }).map((e) => e.join('')));
const msgText = fc.string({ maxLength: 80 });

const nil = (v: string): string | null => (v === '-' ? null : v);

describe('generated RFC 5424 headers', () => {
  it('parse back to the fields they were built from', () => {
    fc.assert(
      fc.property(
        pri, nilOr(rfc3339), nilOr(printUsAscii(1, 255)), nilOr(printUsAscii(1, 48)), nilOr(printUsAscii(1, 128)),
        nilOr(printUsAscii(1, 32)), sd, fc.option(fc.tuple(fc.boolean(), msgText)),
        (p, ts, host, app, procid, msgid, sdv, msg) => {
          const tail = msg === null ? '' : ` ${msg[0] ? '\ufeff' : ''}${msg[1]}`;
          const raw = Buffer.from(`<${p}>1 ${ts} ${host} ${app} ${procid} ${msgid} ${sdv}${tail}`, 'utf8');
          expect(headerOf(parseRecordUnchecked(raw))).toEqual({
            fmt: 'rfc5424', pri: p, facility: p >> 3, severity: p & 7,
            ts: nil(ts), host: nil(host), app: nil(app), procid: nil(procid), msgid: nil(msgid), sd: nil(sdv),
          });
        },
      ),
      RUNS,
    );
  });
});

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** glibc `%h %e %T`: the day is space-padded. */
const legacyTs = date.map((d) =>
  `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${d.toISOString().slice(11, 19)}`);
const hostname = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9.-]{0,30}$/);
const tag = fc.stringMatching(/^[A-Za-z0-9_./-]{1,32}$/);

describe('generated RFC 3164 / ForwardFormat headers', () => {
  it('parse back to the fields they were built from', () => {
    fc.assert(
      fc.property(
        pri, fc.boolean(), legacyTs, rfc3339, fc.option(hostname), tag, fc.option(fc.integer({ min: 1, max: 4194304 })), msgText,
        (p, legacy, lts, its, host, t, pid, msg) => {
          const ts = legacy ? lts : its;
          const raw = Buffer.from(`<${p}>${ts} ${host === null ? '' : `${host} `}${t}${pid === null ? '' : `[${pid}]`}: ${msg}`, 'utf8');
          expect(headerOf(parseRecordUnchecked(raw))).toEqual({
            fmt: legacy ? 'rfc3164' : 'rfc3339', pri: p, facility: p >> 3, severity: p & 7,
            ts, host, app: t, procid: pid === null ? null : String(pid), msgid: null, sd: null,
          });
        },
      ),
      RUNS,
    );
  });
});

// ---- invalid UTF-8 in the body ---------------------------------------------

const INVALID_UTF8 = [[0xff], [0xc3], [0x80], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x9c], [0xc0, 0xaf]];
const header = fc.oneof(
  fc.tuple(pri, rfc3339, printUsAscii(1, 20), printUsAscii(1, 20), sd).map(([p, ts, h, a, s]) => `<${p}>1 ${ts} ${h} ${a} - - ${s} `),
  fc.tuple(pri, legacyTs, hostname, tag).map(([p, ts, h, t]) => `<${p}>${ts} ${h} ${t}: `),
  fc.tuple(pri, rfc3339, hostname, tag).map(([p, ts, h, t]) => `<${p}>${ts} ${h} ${t}: `),
  pri.map((p) => `<${p}>`),
);
const body = fc.oneof(
  msgText,
  fc.constantFrom(
    '2026-11-26 12:55:41.106 22229 INFO tacker.common.config [-] Logging enabled!',
    '2026-11-26 12:55:44,694.694 1 ERROR a.b [None req-1 u p - - - -] x\n2026-11-26 12:55:44,694.694 1 ERROR a.b y',
    '{"levelname": "INFO", "name": "tacker.wsgi", "process": 7, "context": {"request_id": "req-1"}}',
  ),
);

describe('invalid UTF-8 in the message body', () => {
  it('does not change the header fields', () => {
    fc.assert(
      fc.property(header, body, fc.array(fc.tuple(fc.nat(), fc.constantFrom(...INVALID_UTF8)), { minLength: 1, maxLength: 4 }),
        (h, b, inserts) => {
          const head = Buffer.from(h, 'utf8');
          const bodyBytes = [...Buffer.from(b, 'utf8')];
          for (const [pos, bad] of inserts) bodyBytes.splice(pos % (bodyBytes.length + 1), 0, ...bad);
          const clean = parseRecordUnchecked(Buffer.concat([head, Buffer.from(b, 'utf8')]));
          const dirty = parseRecordUnchecked(Buffer.concat([head, Buffer.from(bodyBytes)]));
          expectWellFormed(dirty);
          expect(headerOf(dirty)).toEqual(headerOf(clean));
        }),
      RUNS,
    );
  });
});

// ---- generated oslo ContextFormatter lines ----------------------------------

const id = fc.oneof(fc.constant('-'), fc.constant('None'), fc.stringMatching(/^[0-9a-f]{8,32}$/));
const reqId = fc.uuid().map((u) => `req-${u}`);
const osloTime = fc.tuple(date, fc.nat({ max: 999 }), fc.constantFrom('dot', 'python', 'split')).map(([d, ms, shape]) => {
  const iso = d.toISOString();
  const m = String(ms).padStart(3, '0');
  const ymdhms = `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
  if (shape === 'dot') return `${ymdhms}.${m}`;
  if (shape === 'python') return `${ymdhms},${m}.${m}`;
  return `${iso.slice(11, 19)},${m}.${m}`;
});
const level = fc.constantFrom('INFO', 'DEBUG', 'WARNING', 'ERROR', 'CRITICAL', 'TRACE', 'AUDIT');
const loggerName = fc.stringMatching(/^[a-z_][a-z0-9_]{0,10}(\.[a-z_][a-z0-9_]{0,10}){0,4}$/);
const ctx = fc.option(fc.record({ global: fc.oneof(fc.constant('None'), reqId), req: reqId, user: id, project: id }));

describe('generated oslo ContextFormatter lines', () => {
  it('yield their time, pid, level, logger and context ids', () => {
    fc.assert(
      fc.property(header, osloTime, fc.integer({ min: 1, max: 4194304 }), level, loggerName, ctx, fc.option(fc.uuid()), msgText,
        (h, time, pid, lvl, logger, c, inst, msg) => {
          const context = c === null ? '[-]' : `[${c.global} ${c.req} ${c.user} ${c.project} - - - -]`;
          const instance = inst === null ? '' : `[instance: ${inst}] `;
          const raw = Buffer.from(`${h}${time} ${pid} ${lvl} ${logger} ${context} ${instance}${msg.replace(/Traceback/g, '')}`, 'utf8');
          const idOf = (v: string): string | null => (v === '-' || v === 'None' ? null : v);
          expect(parseRecordUnchecked(raw).oslo).toEqual({
            kind: 'context', time, pid, level: lvl, logger,
            request_id: c === null ? null : c.req,
            global_request_id: c === null ? null : idOf(c.global),
            user: c === null ? null : idOf(c.user),
            project: c === null ? null : idOf(c.project),
            instance: inst,
            exception: false,
          });
        }),
      RUNS,
    );
  });
});
