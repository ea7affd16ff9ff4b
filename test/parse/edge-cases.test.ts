import { describe, expect, it } from 'vitest';
import { PARSER_VERSION, fieldsFromJson, fieldsToJson, parseRecord, type ParsedFields } from '../../src/parse/index.js';
import { HEAD_WINDOW, MAX_JSON_BYTES } from '../../src/parse/limits.js';
import { expectWellFormed, headerOf } from './shape.js';

const parse = (s: string | Buffer): ParsedFields => {
  const f = parseRecord(typeof s === 'string' ? Buffer.from(s, 'latin1') : s);
  expectWellFormed(f);
  return f;
};
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

const NONE = {
  fmt: 'nopri', pri: null, facility: null, severity: null, ts: null, host: null, app: null, procid: null, msgid: null, sd: null,
} as const;
const OSLO_LINE = '2026-11-26 12:55:41.106 22229 INFO tacker.common.config [-] Logging enabled!';
const OSLO_FIELDS = {
  kind: 'context', time: '2026-11-26 12:55:41.106', pid: 22229, level: 'INFO', logger: 'tacker.common.config',
  request_id: null, global_request_id: null, user: null, project: null, instance: null, exception: false,
} as const;

describe('PRI', () => {
  it('PARSER_VERSION is 1', () => {
    expect(PARSER_VERSION).toBe(1);
  });

  it('an empty buffer is nopri with nothing extracted', () => {
    expect(parse('')).toEqual({ ...NONE, oslo: null });
  });

  it('<999> (above 191) is not a PRI: the record is nopri and keeps no header', () => {
    expect(parse('<999>1 2026-11-26T12:00:00Z vm app - - - hi')).toEqual({ ...NONE, oslo: null });
  });

  it('accepts 0 and 191, rejects 192, non-digits, more than 3 digits and a missing >', () => {
    expect(parse('<0>x')).toMatchObject({ fmt: 'bare', pri: 0, facility: 0, severity: 0 });
    expect(parse('<191>x')).toMatchObject({ fmt: 'bare', pri: 191, facility: 23, severity: 7 });
    for (const s of ['<192>x', '<1a>x', '<>x', '<0134>x', '<134', '134>x', ' <134>x']) {
      expect(parse(s).fmt, s).toBe('nopri');
    }
  });

  it('accepts leading zeros (<013>) since the value is unambiguous', () => {
    expect(parse('<013>x')).toMatchObject({ fmt: 'bare', pri: 13 });
  });

  it('<13> alone is a bare record with only the PRI', () => {
    expect(parse('<13>')).toEqual({ ...NONE, fmt: 'bare', pri: 13, facility: 1, severity: 5, oslo: null });
  });

  it('a record without PRI is still searched for oslo fields', () => {
    expect(parse(OSLO_LINE)).toEqual({ ...NONE, oslo: OSLO_FIELDS });
  });
});

describe('RFC 5424', () => {
  const ALL_NIL = { ...NONE, fmt: 'rfc5424', pri: 14, facility: 1, severity: 6, oslo: null } as const;

  it('<14>1 - - - - - - (every field nil, no MSG) parses with all fields null', () => {
    expect(parse('<14>1 - - - - - -')).toEqual(ALL_NIL);
  });

  it('drops a trailing LF, CRLF or NUL before deciding where the record ends', () => {
    for (const tail of ['\n', '\r\n', '\0', '\n\0', ' ']) expect(parse(`<14>1 - - - - - -${tail}`), JSON.stringify(tail)).toEqual(ALL_NIL);
  });

  it('skips a UTF-8 BOM before MSG', () => {
    const raw = Buffer.concat([Buffer.from('<134>1 2026-11-26T12:55:48.748101+00:00 vm tacker-server - - - '), Buffer.from([0xef, 0xbb, 0xbf]), utf8(OSLO_LINE)]);
    expect(parse(raw)).toEqual({
      ...NONE, fmt: 'rfc5424', pri: 134, facility: 16, severity: 6, ts: '2026-11-26T12:55:48.748101+00:00', host: 'vm',
      app: 'tacker-server', oslo: OSLO_FIELDS,
    });
  });

  it('keeps PROCID, MSGID and the SD exactly as written, with ] and \\" inside values', () => {
    const sd = '[ex@32473 iut="3" eventSource="App]lication" q="a\\"b\\]c"][other@1]';
    expect(headerOf(parse(`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 ${sd} An application event`))).toEqual({
      fmt: 'rfc5424', pri: 165, facility: 20, severity: 5, ts: '2003-10-11T22:14:15.003Z', host: 'mymachine.example.com',
      app: 'evntslog', procid: '1234', msgid: 'ID47', sd,
    });
  });

  it('falls back to bare when the header is incomplete or malformed', () => {
    for (const s of [
      '<14>1 - - - - -', // no SD
      '<14>1 - - - - - -x', // junk glued to SD
      '<14>1 -  - - - - -', // empty field
      '<14>1 yesterday vm app - - - x', // not a timestamp
      '<14>1 - - - - - [unterminated a="b"', // SD never closes
      '<14>1 - - - - - [] x', // empty SD-ID
      '<14>0 - - - - - -', // VERSION must not start with 0
    ]) {
      expect(parse(s), s).toMatchObject({ fmt: 'bare', pri: 14, ts: null, host: null, sd: null });
    }
  });

  it('decodes header fields as UTF-8; invalid bytes become U+FFFD and do not spill into other fields', () => {
    const raw = Buffer.concat([Buffer.from('<14>1 - h\u00c3\u00a9st ', 'latin1'), Buffer.from([0x61, 0xff, 0x62]), Buffer.from(' - - - x')]);
    expect(parse(raw)).toMatchObject({ fmt: 'rfc5424', host: 'h\u00e9st', app: 'a\ufffdb', procid: null });
  });

  it('treats a header that does not end within HEAD_WINDOW bytes as absent', () => {
    const long = 'h'.repeat(HEAD_WINDOW);
    expect(parse(`<14>1 - ${long} app - - - x`)).toMatchObject({ fmt: 'bare', pri: 14, host: null });
  });
});

describe('RFC 3164 and ForwardFormat', () => {
  it('glibc local shape: no HOST, TAG with colon', () => {
    expect(headerOf(parse(`<14>Nov  6 01:02:03 tacker-server: ${OSLO_LINE}`))).toEqual({
      ...NONE, fmt: 'rfc3164', pri: 14, facility: 1, severity: 6, ts: 'Nov  6 01:02:03', app: 'tacker-server',
    });
  });

  it('HOST, TAG[PID]: and fractional seconds', () => {
    expect(headerOf(parse('<134>Nov 26 12:55:48.123 vm tacker-server[4711]: hello'))).toEqual({
      ...NONE, fmt: 'rfc3164', pri: 134, facility: 16, severity: 6, ts: 'Nov 26 12:55:48.123', host: 'vm',
      app: 'tacker-server', procid: '4711',
    });
  });

  it('ForwardFormat with and without HOST', () => {
    expect(parse('<134>2026-11-26T12:55:48.748101+00:00 vm tacker-server: x')).toMatchObject({
      fmt: 'rfc3339', ts: '2026-11-26T12:55:48.748101+00:00', host: 'vm', app: 'tacker-server',
    });
    expect(parse('<134>2026-11-26T12:55:48Z tacker-server: x')).toMatchObject({ fmt: 'rfc3339', host: null, app: 'tacker-server' });
  });

  it('rsyslog fed a headerless Python record: the date became TAG, the oslo time is partial but consistent', () => {
    expect(parse('<14>2026-11-26T12:55:57.763052+00:00 vm 2026-11-26 12:55:57,762.762 22774 INFO tacker.common.config [-] Logging enabled!')).toEqual({
      ...NONE, fmt: 'rfc3339', pri: 14, facility: 1, severity: 6, ts: '2026-11-26T12:55:57.763052+00:00', host: 'vm', app: '2026-11-26',
      oslo: { ...OSLO_FIELDS, time: '12:55:57,762.762', pid: 22774 },
    });
  });

  it('an empty TAG or PID is null, not an empty string', () => {
    expect(parse('<13>Nov 26 12:00:00 host [12]: x')).toMatchObject({ host: 'host', app: null, procid: '12' });
    expect(parse('<13>Nov 26 12:00:00 host tag[]: x')).toMatchObject({ app: 'tag', procid: null });
  });

  it('a lone word after the timestamp is the TAG; nothing after it at all is fine too', () => {
    expect(parse('<13>Nov 26 12:00:00 hello')).toMatchObject({ fmt: 'rfc3164', host: null, app: 'hello' });
    expect(parse('<13>Nov 26 12:00:00')).toMatchObject({ fmt: 'rfc3164', ts: 'Nov 26 12:00:00', host: null, app: null });
  });

  it('something that only resembles a timestamp is bare', () => {
    for (const s of ['<13>Foo 26 12:00:00 h t: x', '<13>Nov 26 12:00 h t: x', '<13>Nov 26 12:00:00x h', '<13>2026-11-26 12:55:41 h t: x']) {
      expect(parse(s).fmt, s).toBe('bare');
    }
  });
});

describe('oslo ContextFormatter text', () => {
  const at = (body: string): ParsedFields['oslo'] => parse(`<134>${body}`).oslo;

  it('maps "-" and "None" in the context to null and reads [instance: uuid]', () => {
    expect(at('2026-11-26 12:55:41.108 22229 INFO tacker.vnflcm.vnflcm_driver [None req-7e6d 9a0b 2c7e - - - -] [instance: 6b0c5a2e-1d3f-4a9b-8c7d-5e4f3a2b1c0d] Instantiate')).toEqual({
      ...OSLO_FIELDS, time: '2026-11-26 12:55:41.108', logger: 'tacker.vnflcm.vnflcm_driver', request_id: 'req-7e6d', user: '9a0b',
      project: '2c7e', instance: '6b0c5a2e-1d3f-4a9b-8c7d-5e4f3a2b1c0d',
    });
  });

  it('a missing global_request_id ("" rather than None) keeps the ids positional', () => {
    expect(at(`2026-11-26 12:55:41.106 1 INFO a [ req-2 u p - - default default] x`)).toMatchObject({
      global_request_id: null, request_id: 'req-2', user: 'u', project: 'p',
    });
  });

  it('reads the pre-global-id layout [req user project ...]', () => {
    expect(at('2026-11-26 12:55:41.106 1 INFO a [req-2 u p - - -] x')).toMatchObject({
      global_request_id: null, request_id: 'req-2', user: 'u', project: 'p',
    });
  });

  it('a lone req- id in the brackets is the request id; an ISO "T" time is kept as written', () => {
    // After a header: right after <PRI> this time would be read as a ForwardFormat timestamp.
    expect(parse('<134>Nov 26 12:00:00 tacker: 2026-11-26T12:55:41.106 1 INFO a [req-9] x').oslo).toMatchObject({
      time: '2026-11-26T12:55:41.106', request_id: 'req-9', global_request_id: null, user: null,
    });
  });

  it('a context without closing bracket yields no ids but keeps the rest', () => {
    expect(at(`2026-11-26 12:55:41.106 1 INFO a [req-1 req-2 u p ${'x'.repeat(2000)}`)).toMatchObject({
      level: 'INFO', logger: 'a', request_id: null, global_request_id: null,
    });
  });

  it('instance without a request context, and no context at all', () => {
    expect(at('2026-11-26 12:55:41.106 1 INFO a [-] [instance: abc] x')).toMatchObject({ request_id: null, instance: 'abc' });
    expect(at('2026-11-26 12:55:41.106 1 INFO a custom format without brackets')).toMatchObject({ level: 'INFO', logger: 'a', request_id: null });
  });

  it('takes any uppercase level word', () => {
    for (const lvl of ['TRACE', 'AUDIT', 'WARN', 'LEVEL_5']) expect(at(`2026-11-26 12:55:41.106 1 ${lvl} a [-] x`)?.level).toBe(lvl);
    expect(at('2026-11-26 12:55:41.106 1 info a [-] x')).toBeNull();
    expect(at('2026-11-26 12:55:41.106 x1 INFO a [-] x')).toBeNull();
    expect(at('2026-11-26 12:55:41.106 12345678901 INFO a [-] x')).toBeNull();
  });

  const first = '2026-11-26 12:55:53.141 22712 ERROR tacker.vnfm.plugin [-] Failed: RuntimeError: boom';
  const line = (pid: string, logger: string): string => `2026-11-26 12:55:53.141 ${pid} ERROR ${logger} ValueError: bad`;

  it('detects a traceback by its prefixed lines, with raw LF or #012, even without "Traceback (most recent call last)"', () => {
    for (const sep of ['\n', '#012']) {
      expect(at(`${first}${sep}${line('22712', 'tacker.vnfm.plugin')}${sep}${line('22712', 'tacker.vnfm.plugin')}`)?.exception, sep).toBe(true);
      // The trailing bare prefix oslo leaves after the last traceback line.
      expect(at(`${first}${sep}2026-11-26 12:55:53.141 22712 ERROR tacker.vnfm.plugin `)?.exception, sep).toBe(true);
    }
  });

  it('does not count lines of another process or logger, or a plain multi-line message', () => {
    expect(at(`${first}\n${line('22713', 'tacker.vnfm.plugin')}`)?.exception).toBe(false);
    expect(at(`${first}\n${line('22712', 'tacker.vnfm.plugin2')}`)?.exception).toBe(false);
    expect(at(`${first}#012${line('2712', 'tacker.vnfm.plugin')}`)?.exception).toBe(false);
    expect(at(`${first}\n  vim_id: a1b2\n\tstatus: REACHABLE\nend of report`)?.exception).toBe(false);
    expect(at(first)?.exception).toBe(false);
  });

  it('detects "Traceback (most recent call last)" anywhere, also past the head window', () => {
    expect(at(`${first}#012x Traceback (most recent call last):`)?.exception).toBe(true);
    expect(at(`${first} ${'y'.repeat(HEAD_WINDOW * 2)}\nTraceback (most recent call last):`)?.exception).toBe(true);
    // The phrase straddling the window edge.
    const pad = 'z'.repeat(HEAD_WINDOW - 5 - first.length - 10);
    expect(at(`${first}${pad}Traceback (most recent call last):`)?.exception).toBe(true);
  });

  it('finds prefixed traceback lines far beyond the head window', () => {
    expect(at(`${first} ${'y'.repeat(HEAD_WINDOW * 3)}\n${line('22712', 'tacker.vnfm.plugin')}`)?.exception).toBe(true);
  });

  it('needs time, pid, level and logger to lie within the head window', () => {
    expect(at(`2026-11-26 12:55:41.106 1 INFO ${'a'.repeat(HEAD_WINDOW)} [-] x`)).toBeNull();
  });
});

describe('oslo JSONFormatter', () => {
  const rec = {
    message: 'Instantiate VNF started', asctime: '2026-11-26 12:55:46,463', name: 'tacker.vnflcm.vnflcm_driver', levelname: 'INFO',
    process: 22506, traceback: null,
    context: { user_name: null, user: 'u1', project: 'p1', request_id: 'req-7', global_request_id: null, resource_uuid: 'vnf-1' },
  };
  const JSON_FIELDS = {
    kind: 'json', time: '2026-11-26 12:55:46,463', pid: 22506, level: 'INFO', logger: 'tacker.vnflcm.vnflcm_driver',
    request_id: 'req-7', global_request_id: null, user: 'u1', project: 'p1', instance: 'vnf-1', exception: false,
  };
  const json = (o: unknown, pre = '<142>', post = '\0'): Buffer => utf8(`${pre}${JSON.stringify(o)}${post}`);

  it('parses a Python SysLogHandler datagram (trailing NUL) and one after a 3164 header', () => {
    expect(parse(json(rec)).oslo).toEqual(JSON_FIELDS);
    expect(parse(json(rec, '<142>Nov 26 12:55:42 tacker-server: ', '')).oslo).toEqual(JSON_FIELDS);
  });

  it('exception follows traceback: null / [] are false, a list of lines is true', () => {
    expect(parse(json({ ...rec, traceback: [] })).oslo?.exception).toBe(false);
    expect(parse(json({ ...rec, traceback: ['Traceback (most recent call last):', 'ValueError: x'] })).oslo?.exception).toBe(true);
  });

  it('falls back to user_name / project_name and to instance in extra', () => {
    const ctx = { user_name: 'admin', project_name: 'demo' };
    expect(parse(json({ ...rec, context: ctx, extra: { instance: { uuid: 'i-1' } } })).oslo).toMatchObject({ user: 'admin', project: 'demo', instance: 'i-1' });
  });

  it('ignores wrongly typed values instead of passing them on', () => {
    expect(parse(json({ ...rec, process: '12', levelname: 5, name: ['x'], context: 'nope' })).oslo).toEqual({
      ...JSON_FIELDS, pid: null, level: null, logger: null, request_id: null, user: null, project: null, instance: null,
    });
  });

  it('yields no oslo fields for truncated, non-object, invalid UTF-8 or oversized JSON', () => {
    const full = JSON.stringify(rec);
    expect(parse(utf8(`<142>${full.slice(0, -10)}`)).oslo).toBeNull();
    expect(parse(utf8('<142>[1,2,3]')).oslo).toBeNull();
    expect(parse(utf8('<142>{}')).oslo).toEqual({ ...JSON_FIELDS, time: null, pid: null, level: null, logger: null, request_id: null, user: null, project: null, instance: null });
    const bad = Buffer.concat([utf8(`<142>${full.slice(0, -1)},"x":"`), Buffer.from([0xff]), utf8('"}')]);
    expect(parse(bad).oslo).toBeNull();
    const big = utf8(`<142>${JSON.stringify({ ...rec, message: 'm'.repeat(MAX_JSON_BYTES) })}`);
    expect(parse(big).oslo).toBeNull();
  });

  it('parses a JSON record much larger than the head window', () => {
    expect(parse(json({ ...rec, message: 'm'.repeat(140_000) })).oslo).toEqual(JSON_FIELDS);
  });
});

describe('hostile input stays linear', () => {
  const cases: [string, Buffer][] = [
    ['1 MB of LF after an oslo prefix', utf8(`<134>${OSLO_LINE}${'\n'.repeat(1 << 20)}`)],
    ['1 MB of prefixed-looking lines with the wrong pid', utf8(`<134>2026-11-26 12:55:53.141 1 ERROR a [-] x${'\n2026-11-26 12:55:53.141 2 ERROR a '.repeat(30000)}`)],
    ['1 MB of " ERROR a" right after the first line', utf8(`<134>2026-11-26 12:55:53.141 1 ERROR a [-] x${' ERROR a'.repeat(1 << 17)}`)],
    ['1 MB of #012', utf8(`<134>${OSLO_LINE}${'#012'.repeat(1 << 18)}`)],
    ['1 MB of SD brackets and quotes', utf8(`<14>1 - - - - - ${'[a b="\\"]'.repeat(1 << 17)}`)],
    ['deeply nested JSON', utf8(`<142>{"a":${'['.repeat(200000)}${']'.repeat(200000)}}`)],
    ['1 MB of spaces', Buffer.alloc(1 << 20, 0x20)],
    ['1 MB of <', Buffer.alloc(1 << 20, 0x3c)],
  ];
  for (const [name, raw] of cases) {
    it(name, () => {
      // Quadratic work on 1 MB would take minutes and hit the test timeout; no timing assertion here.
      const f = parse(raw);
      expect(fieldsFromJson(fieldsToJson(f))).toEqual({ v: PARSER_VERSION, ...f });
    });
  }
});
