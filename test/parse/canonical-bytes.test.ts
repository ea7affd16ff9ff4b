// writeFieldsJson must write exactly the UTF-8 of fieldsToJson (verify re-derives the stored
// JSON with fieldsToJson and compares), for every corpus record and for any field values.

import { describe, expect, it } from 'vitest';
import { fieldsToJson, NO_ROOM, parseRecord, writeFieldsJson, type ParsedFields } from '../../src/parse/index.js';
import { rng } from '../receive/helpers.js';
import { loadCorpus, loadManifest } from './corpus.js';

function written(f: ParsedFields, room = 1 << 16, at = 0): Buffer {
  const out = Buffer.alloc(room + at, 0xaa);
  const end = writeFieldsJson(out, at, f);
  if (end === NO_ROOM) throw new Error('no room');
  return out.subarray(at, end);
}

/** Values that take every path: plain ASCII, JSON escapes, DEL, controls, non-ASCII, lone surrogates. */
const PIECES = ['tacker', 'a"b', 'back\\slash', 'tab\there', 'nl\n', '\u007f', '\u0000', 'é', '\u2028', '\u{1f600}', '\ud800', '\udfff', 'req-1', ' ', ''];

function randomString(r: () => number): string {
  let s = '';
  const n = Math.floor(r() * 5);
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(r() * PIECES.length)];
  return s;
}

function randomFields(r: () => number): ParsedFields {
  const ms = (): string | null => (r() < 0.3 ? null : randomString(r));
  const mn = (): number | null => (r() < 0.3 ? null : Math.floor(r() * 2 ** (1 + Math.floor(r() * 40))));
  const fmts = ['rfc5424', 'rfc3164', 'rfc3339', 'bare', 'nopri'] as const;
  // Often a PRI as the parser derives its parts (writeFieldsJson's cached heads), at and past
  // the ends of its range, sometimes with a part that does not follow from it.
  const derived = r() < 0.4;
  const pri = derived ? Math.floor(r() * 200) - 4 : mn();
  const facility = derived ? (pri! >> 3) + (r() < 0.1 ? 1 : 0) : mn();
  const severity = derived ? (pri! & 7) + (r() < 0.1 ? 8 : 0) : mn();
  return {
    fmt: fmts[Math.floor(r() * fmts.length)]!, pri, facility, severity, ts: ms(), host: ms(), app: ms(), procid: ms(), msgid: ms(), sd: ms(),
    oslo: r() < 0.3 ? null : {
      kind: r() < 0.5 ? 'context' : 'json', time: ms(), pid: mn(), level: ms(), logger: ms(), request_id: ms(), global_request_id: ms(),
      user: ms(), project: ms(), instance: ms(), exception: r() < 0.3,
    },
  };
}

describe('writeFieldsJson', () => {
  it('writes fieldsToJson byte for byte for every frame of the corpus', () => {
    let n = 0;
    for (const c of loadCorpus(loadManifest())) {
      for (const frame of c.frames) {
        const f = parseRecord(frame);
        expect(written(f).toString('hex'), c.name).toBe(Buffer.from(fieldsToJson(f), 'utf8').toString('hex'));
        n++;
      }
    }
    expect(n).toBeGreaterThan(50);
  });

  it('writes fieldsToJson byte for byte for 20,000 random field sets, at any offset', () => {
    const r = rng(42);
    for (let i = 0; i < 20_000; i++) {
      const f = randomFields(r);
      const want = Buffer.from(fieldsToJson(f), 'utf8');
      expect(written(f, 1 << 12, i % 7).equals(want), JSON.stringify(f)).toBe(true);
    }
  });

  it('with too little room: NO_ROOM, and nothing written past the end', () => {
    const r = rng(7);
    for (let i = 0; i < 200; i++) {
      const f = randomFields(r);
      const len = Buffer.byteLength(fieldsToJson(f), 'utf8');
      for (const room of [0, 1, Math.floor(len / 2), len - 2, len - 1]) {
        if (room < 0) continue;
        const out = Buffer.alloc(room + 8, 0xaa);
        expect(writeFieldsJson(out.subarray(0, room), 0, f)).toBe(NO_ROOM);
        expect(out.subarray(room).every((b) => b === 0xaa)).toBe(true);
      }
      expect(writeFieldsJson(Buffer.alloc(len), 0, f)).toBe(len);
    }
  });
});
