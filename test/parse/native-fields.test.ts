// The C fields check (src/parse/fields-native) may only ever vouch: wherever it writes a record's
// field JSON, that JSON must be byte for byte what parseRecord and writeFieldsJson give, and where
// it cannot be sure it must decline. Held here over generated oslo and syslog records (with the
// edges the parser has: the 4 KiB head window, escapes, non-ASCII, tracebacks), over every frame
// of the wire corpus, and over the same records with random bytes changed; and matchFields must
// vouch exactly for the stored JSON that is right, never for an edited one.

import fc from 'fast-check';
import { describe, expect } from 'vitest';
import { fieldsChoice, FIELDS_ENV, NO_ROOM, parseRecord, writeFieldsJson } from '../../src/parse/index.js';
import { loadFieldsAddon, type NativeFields } from '../../src/parse/native-fields.js';
import { needClients } from '../clients/available.js';
import { loadCorpus, loadManifest } from './corpus.js';

const addon = needClients('fields-addon');
const native = (): NativeFields => loadFieldsAddon().fields!;
const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

/** What the TypeScript path writes for raw. */
function jsFields(raw: Buffer): Buffer {
  let out = Buffer.allocUnsafe(4096);
  let n: number;
  while ((n = writeFieldsJson(out, 0, parseRecord(raw))) === NO_ROOM) out = Buffer.allocUnsafe(out.length * 2);
  return Buffer.from(out.subarray(0, n));
}

const scratch = Buffer.alloc(1 << 16);
/** What the C writes for raw, or null where it declines. */
function cFields(raw: Buffer): Buffer | null {
  const n = native().writeFields(raw, scratch);
  return n < 0 ? null : Buffer.from(scratch.subarray(0, n));
}

/** Asserts the C either declines or writes the TypeScript bytes; true when it wrote. */
function agrees(raw: Buffer): boolean {
  const c = cFields(raw);
  if (c === null) return false;
  expect({ raw: raw.toString('latin1'), json: c.toString('latin1') }).toEqual({ raw: raw.toString('latin1'), json: jsFields(raw).toString('latin1') });
  return true;
}

// ---- generated records: the shapes the parser knows, with their edges ----

const ascii = (min: number, max: number, from = 0x21, to = 0x7e): fc.Arbitrary<string> =>
  fc.string({ unit: fc.integer({ min: from, max: to }).map((c) => String.fromCharCode(c)), minLength: min, maxLength: max });
/** Tokens with the bytes that need escaping or end a field now and then. */
const token = fc.oneof(
  { weight: 6, arbitrary: ascii(1, 12, 0x61, 0x7a) },
  { weight: 2, arbitrary: ascii(1, 12) },
  { weight: 1, arbitrary: fc.constantFrom('-', 'None', '"', '\\', 'a"b', 'c\\d', '[x]', 'tag:', 'caf\xc3\xa9', '\x7f', 'a\tb', 'req-1', 'req-2') },
);
const pri = fc.oneof(fc.integer({ min: 0, max: 191 }).map(String), fc.constantFrom('013', '192', '999', '', '1a'));
const digits = (min: number, max: number): fc.Arbitrary<string> => ascii(min, max, 0x30, 0x39);
const rfc5424 = fc
  .tuple(pri, fc.constantFrom('1', '12', '123', '1234', '0'), fc.constantFrom('2026-11-26T12:55:48.748101+00:00', '-', '2026-11-26t12:00:00Z', 'not-a-time'), token, token, token, token,
    fc.constantFrom('-', '[ex@1 a="x\\"]y"]', '[timeQuality tzKnown="1" isSynced="0"]', '[a][b c="d"]', '[', '[]', '-x'))
  .map(([p, v, ts, h, a, pr, m, sd]) => `<${p}>${v} ${ts} ${h} ${a} ${pr} ${m} ${sd} `);
const rfc3164 = fc
  .tuple(pri, fc.constantFrom('Nov 26 12:00:00', 'Nov  6 01:02:03', 'Nov 6 01:02:03', 'Dec 31 23:59:59.123', 'Foo 26 12:00:00'), fc.option(token), token, fc.option(digits(1, 6)), fc.constantFrom(': ', ' ', ':', ''))
  .map(([p, ts, h, tag, pid, sep]) => `<${p}>${ts} ${h === null ? '' : h + ' '}${tag}${pid === null ? '' : `[${pid}]`}${sep}`);
const rfc3339 = fc
  .tuple(pri, fc.constantFrom('2026-11-26T12:55:48.748101+00:00', '2026-11-26T12:55:48Z', '2026-11-26 12:55:48'), fc.option(token), token)
  .map(([p, ts, h, tag]) => `<${p}>${ts} ${h === null ? '' : h + ' '}${tag}: `);
const header = fc.oneof(rfc5424, rfc3164, rfc3339, pri.map((p) => `<${p}>`), fc.constant(''), fc.constant('\xef\xbb\xbf'));

const osloTime = fc.constantFrom('2026-11-26 12:55:41.106', '2026-11-26 12:55:44,694.694', '12:55:57,762.762', '2026-11-26T12:55:41.106', '2026-11-26 12:55');
const id = fc.oneof(fc.constantFrom('-', 'None', '', 'req-0d1c2b3a-4f5e', 'req-3f5c6b1e', 'default'), token);
const context = fc.oneof(
  fc.constant('[-]'),
  fc.array(id, { maxLength: 8 }).map((ids) => `[${ids.join(' ')}]`),
  fc.constant('[req-a u p - - -'),
);
const instance = fc.oneof(fc.constant(''), fc.constant('[instance: 6b0c5a2e-1d3f-4a9b-8c7d-5e4f3a2b1c0d] '), token.map((t) => `[instance: ${t}] `), fc.constant('[instance: ] '));
/** What may follow the first line: a traceback, or a line with an exception prefix, of this record (same pid and logger) or not. */
const continuation = fc.oneof(
  fc.constant(() => ''),
  fc.constant(() => '\nTraceback (most recent call last):\n  File "x.py"'),
  fc.tuple(
    fc.oneof(osloTime, fc.constantFrom('2:55:57', '12:55:57', '1', '-', '2026-11-26 12:55:44,694.694.1234567890123456789012345678901', '2026-11-26 12:55:44,694.694.12345678901234567890123456789012')),
    fc.boolean(), fc.boolean(), fc.constantFrom('\n', '#012', '\r\n', '\r', ' '), fc.constantFrom(' x', '', 'X', ':'),
  ).map(([t, samePid, sameLogger, br, after]) => (pid: string, logger: string) => `${br}${t} ${samePid ? pid : pid.slice(0, -1) + (pid.endsWith('7') ? '8' : '7')} ERROR ${sameLogger ? logger : 'other'}${after}`),
);
const oslo = fc
  .tuple(osloTime, fc.oneof(fc.constant('4242'), digits(1, 12)), fc.constantFrom('INFO', 'ERROR', 'DEBUG', 'WARNING', 'TRACE', 'info', 'E2_X'), fc.constantFrom('tacker.vnfm.plugin', 'x', 'a"b', 'caf\xc3\xa9'), fc.option(context), instance, ascii(0, 60, 0x20, 0x7e), continuation)
  .map(([t, pid, lv, lg, ctx, inst, msg, more]) => `${t} ${pid} ${lv} ${lg}${ctx === null ? '' : ' ' + ctx} ${inst}${msg}${more(pid, lg)}`);
const body = fc.oneof({ weight: 5, arbitrary: oslo }, { weight: 1, arbitrary: ascii(0, 80, 0x20, 0x7e) }, { weight: 1, arbitrary: fc.constant('{"levelname": "INFO", "name": "x", "process": 1}') });
const tail = fc.constantFrom('', '\0', '\n', '\r\n', '\n\0', '\r', '\n\n');
/** Padding that moves the fields across the 4 KiB head window: the oslo line starts this close before its edge. */
const pad = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: 4096 - 130, max: 4096 + 4 }) });

const record = fc.tuple(header, pad, fc.constantFrom(' ', '', '  '), body, tail).map(([h, p, sp, b, t]) => {
  if (p === 0) return latin1(`${h}${sp}${b}${t}`);
  // Either before the oslo line (so that it starts at p, its fields near the window's edge) or
  // inside its message (so that a traceback lies past the window).
  return p % 3 ? latin1(`${h}${'x'.repeat(Math.max(0, p - h.length - 1))} ${b}${t}`) : latin1(`${h}${sp}${b}${'y'.repeat(p)}${t}`);
});

/** A record with a few bytes replaced by bytes the parser treats specially. */
const mutated = fc
  .tuple(record, fc.array(fc.tuple(fc.nat(), fc.constantFrom(0x00, 0x09, 0x0a, 0x20, 0x22, 0x2d, 0x3a, 0x5b, 0x5c, 0x5d, 0x7b, 0x7f, 0x80, 0xc3, 0xef, 0xff, 0x41, 0x30)), { minLength: 1, maxLength: 4 }))
  .map(([raw, edits]) => {
    const b = Buffer.from(raw);
    for (const [at, byte] of edits) if (b.length > 0) b[at % b.length] = byte;
    return b;
  });

describe('the C fields check against the TypeScript parser', () => {
  addon.it('writes the same bytes for generated records, or declines', () => {
    let written = 0;
    let runs = 0;
    fc.assert(
      fc.property(record, (raw) => {
        runs++;
        if (agrees(raw)) written++;
      }),
      { numRuns: 5000 },
    );
    // Not a check that declines everything: most generated records are plain ASCII.
    expect(written).toBeGreaterThan(runs / 3);
  });

  addon.it('writes the same bytes for records with bytes changed, or declines', () => {
    fc.assert(fc.property(mutated, (raw) => void agrees(raw)), { numRuns: 5000 });
  });

  addon.it('writes the same bytes for arbitrary bytes, or declines', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (u) => void agrees(Buffer.from(u))), { numRuns: 3000 });
  });

  addon.it('writes the same bytes for every frame of the wire corpus, and writes most of the context lines', () => {
    let frames = 0;
    let written = 0;
    for (const c of loadCorpus(loadManifest())) {
      for (const f of c.frames) {
        frames++;
        if (agrees(f)) written++;
      }
    }
    expect(frames).toBeGreaterThan(400);
    expect(written).toBeGreaterThan(frames / 3);
  });

  addon.it('writes the shape `serve` stores in the benchmarks, a traceback record and a record at the window edge', () => {
    const shapes = [
      '<134>1 2026-11-26T12:00:00.000000+00:00 bench tacker-server - - - 2026-11-26 12:00:00.000 4242 INFO tacker.bench [-] message 0000000001 xxxx',
      '<131>Nov 26 12:55:44 host tacker-server[22229]: 2026-11-26 12:55:44,694.694 22229 ERROR tacker.vnfm.plugin [req-0d1c req-3f5c u p - - -] [instance: 6b0c] boom#0122026-11-26 12:55:44,694.694 22229 ERROR tacker.vnfm.plugin Traceback',
      `<13>${'a'.repeat(4090)} 12:00:00 1 INFO x m`,
    ];
    for (const s of shapes) expect(agrees(latin1(s)), s.slice(0, 60)).toBe(true);
  });

  addon.it('matchFields vouches for exactly the stored JSON that is right', () => {
    const m = native();
    fc.assert(
      fc.property(fc.array(fc.tuple(record, fc.nat(), fc.integer({ min: 0, max: 5 })), { minLength: 1, maxLength: 40 }), (items) => {
        const parts: Buffer[] = [];
        const spans: number[] = [];
        const want: number[] = [];
        let at = 0;
        const put = (b: Buffer): [number, number] => {
          parts.push(b);
          at += b.length;
          return [at - b.length, at];
        };
        put(Buffer.from('pad'));
        for (const [raw, where, how] of items) {
          const right = jsFields(raw);
          // 0: the right JSON; otherwise an edit an attacker might make to the fields column.
          const stored = Buffer.from(right);
          if (how === 1) stored[where % stored.length] ^= 0x01;
          const json = how === 2 ? stored.subarray(0, stored.length - 1) : how === 3 ? Buffer.concat([stored, latin1(' ')]) : how === 4 ? latin1(right.toString('latin1').replace('"v":1', '"v":2')) : stored;
          spans.push(...put(raw), ...put(json));
          want.push(how === 0 || how === 5 ? (cFields(raw) === null ? 0 : 1) : json.equals(right) && cFields(raw) !== null ? 1 : 0);
        }
        const vouched = new Uint8Array(items.length).fill(7);
        const count = m.matchFields(Buffer.concat(parts), Uint32Array.from(spans), items.length, vouched);
        expect([...vouched]).toEqual(want);
        expect(count).toBe(want.filter((v) => v === 1).length);
      }),
      { numRuns: 300 },
    );
  });

  addon.it('matchFields refuses spans outside its buffer and counts past its arrays', () => {
    const m = native();
    const buf = Buffer.alloc(10);
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
        return undefined;
      } catch (e) {
        return (e as { code?: string }).code;
      }
    };
    expect(code(() => m.matchFields(buf, Uint32Array.from([0, 11, 0, 1]), 1, new Uint8Array(1)))).toBe('ERR_IMMUTALOG_FIELDS_RANGE');
    expect(code(() => m.matchFields(buf, Uint32Array.from([0, 1, 5, 4]), 1, new Uint8Array(1)))).toBe('ERR_IMMUTALOG_FIELDS_RANGE');
    expect(code(() => m.matchFields(buf, Uint32Array.from([0, 1, 0, 1]), 2, new Uint8Array(2)))).toBe('ERR_IMMUTALOG_FIELDS_RANGE');
    expect(code(() => m.matchFields(buf, Uint32Array.from([0, 1, 0, 1]), 1, new Uint8Array(0)))).toBe('ERR_IMMUTALOG_FIELDS_RANGE');
    expect(code(() => m.matchFields(buf, new Uint16Array(4) as unknown as Uint32Array, 1, new Uint8Array(1)))).toBe('ERR_IMMUTALOG_FIELDS_RANGE');
    expect(m.matchFields(buf, new Uint32Array(0), 0, new Uint8Array(0))).toBe(0);
  });

  addon.it(`is this process's choice unless ${FIELDS_ENV} says otherwise`, () => {
    if (process.env[FIELDS_ENV] === 'js') expect(fieldsChoice().path).toBe('js');
    else expect(fieldsChoice().path).toBe('native');
  });
});
