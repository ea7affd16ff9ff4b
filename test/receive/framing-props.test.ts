import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FLAG_INCOMPLETE, FLAG_TRUNCATED } from '../../src/chain/entry-format.js';
import { HEADER_SLACK_BYTES, StreamFramer, type FramingMode } from '../../src/receive/framing.js';
import { frameAll, splitAt } from './helpers.js';

const RUNS = { numRuns: 300 };
const LF = 0x0a;
const NUL = 0x00;
const HEADER_RE = /^[1-9][0-9]{0,9} </;

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max }).map((a) => Buffer.from(a));
const cuts = fc.array(fc.nat(), { maxLength: 20 });
/** Starts with '<' as every syslog message does, which is what octet detection keys on. */
const pri = (body: Buffer) => Buffer.concat([Buffer.from('<'), body]);
const without = (b: Buffer, ...excluded: number[]) => Buffer.from(b.filter((x) => !excluded.includes(x)));
/** Whitespace-only terminator frames are dropped like empty ones, so round trips avoid them. */
const blank = (m: Buffer) => m.every((x) => x === 0x20 || x === 0x09 || x === 0x0d || x === LF || x === NUL);
const looksOctet = (m: Buffer) => HEADER_RE.test(m.subarray(0, 13).toString('latin1'));

const octetEncode = (msgs: Buffer[]) => Buffer.concat(msgs.flatMap((m) => [Buffer.from(`${m.length} `), m]));
const termEncode = (msgs: Buffer[], t: number) => Buffer.concat(msgs.flatMap((m) => [m, Buffer.from([t])]));

function roundTrip(stream: Buffer, cutList: number[], mode: FramingMode, max = 1 << 16): Buffer[] {
  const { frames, framer } = frameAll(splitAt(stream, cutList.map((c) => c % (stream.length + 1))), { maxFrameBytes: max, mode });
  for (const f of frames) expect(f.flags).toBe(0);
  expect(framer.bufferedBytes).toBe(0);
  return frames.map((f) => f.raw);
}

function sameBuffers(got: Buffer[], want: Buffer[]): void {
  expect(got.map((b) => b.toString('hex'))).toEqual(want.map((b) => b.toString('hex')));
}

describe('StreamFramer round trips (arbitrary messages and chunk boundaries)', () => {
  it('octet counting carries any bytes (LF, NUL, invalid UTF-8), in auto and octet mode', () => {
    fc.assert(
      fc.property(fc.array(bytes(0, 300).map(pri), { maxLength: 12 }), cuts, fc.constantFrom<FramingMode>('auto', 'octet'), (msgs, c, mode) => {
        sameBuffers(roundTrip(octetEncode(msgs), c, mode), msgs);
      }),
      RUNS,
    );
  });

  it('LF framing (forced lf: NUL and anything else but LF inside)', () => {
    fc.assert(
      fc.property(fc.array(bytes(1, 200).map((b) => without(b, LF)).filter((b) => !blank(b)), { maxLength: 12 }), cuts, (msgs, c) => {
        sameBuffers(roundTrip(termEncode(msgs, LF), c, 'lf'), msgs);
      }),
      RUNS,
    );
  });

  it('LF framing in auto mode (no NUL, not starting like a count header)', () => {
    const msg = bytes(1, 200).map((b) => without(b, LF, NUL)).filter((b) => !blank(b) && !looksOctet(b));
    fc.assert(
      fc.property(fc.array(msg, { maxLength: 12 }), cuts, (msgs, c) => {
        sameBuffers(roundTrip(termEncode(msgs, LF), c, 'auto'), msgs);
      }),
      RUNS,
    );
  });

  it('NUL framing never splits on the LFs inside messages (forced nul)', () => {
    fc.assert(
      fc.property(fc.array(bytes(1, 200).map((b) => without(b, NUL)).filter((b) => !blank(b)), { maxLength: 12 }), cuts, (msgs, c) => {
        sameBuffers(roundTrip(termEncode(msgs, NUL), c, 'nul'), msgs);
      }),
      RUNS,
    );
  });

  it('NUL framing in auto mode: raw LFs inside every message but the first (the Python SysLogHandler case)', () => {
    const body = bytes(1, 200).map((b) => without(b, NUL)).filter((b) => !blank(b));
    fc.assert(
      fc.property(bytes(0, 100).map((b) => pri(without(b, NUL, LF))), fc.array(body.map(pri), { maxLength: 12 }), cuts, (first, rest, c) => {
        const msgs = [first, ...rest];
        sameBuffers(roundTrip(termEncode(msgs, NUL), c, 'auto'), msgs);
      }),
      RUNS,
    );
  });

  it('auto mode, whole stream in one chunk: an LF before the first NUL does not hide NUL framing', () => {
    fc.assert(
      fc.property(fc.array(bytes(1, 200).map((b) => pri(without(b, NUL))), { minLength: 2, maxLength: 12 }), (msgs) => {
        const f = new StreamFramer({ maxFrameBytes: 1 << 16 });
        sameBuffers([...f.push(termEncode(msgs, NUL)), ...f.end()].map((x) => x.raw), msgs);
      }),
      RUNS,
    );
  });

  it('octet frames mixed with LF frames on one connection (auto)', () => {
    const lfMsg = bytes(0, 100).map((b) => pri(without(b, LF, NUL)));
    // No NUL in the octet frames: a NUL at hand when the first LF arrives selects NUL framing
    // (see 'LF then NUL' in framing-rules.test.ts).
    const octMsg = bytes(0, 100).map((b) => pri(without(b, NUL)));
    const item = fc.oneof(
      lfMsg.map((m) => ({ m, enc: Buffer.concat([m, Buffer.from([LF])]) })),
      octMsg.map((m) => ({ m, enc: Buffer.concat([Buffer.from(`${m.length} `), m]) })),
    );
    fc.assert(
      fc.property(fc.array(item, { maxLength: 12 }), cuts, (items, c) => {
        sameBuffers(roundTrip(Buffer.concat(items.map((x) => x.enc)), c, 'auto'), items.map((x) => x.m));
      }),
      RUNS,
    );
  });
});

describe('StreamFramer robustness', () => {
  it('arbitrary bytes never throw; buffering is bounded; output never exceeds input', () => {
    const garbage = fc.oneof(
      bytes(0, 600),
      // Byte soup biased towards the framing alphabet, which reaches the odd states.
      fc.array(fc.constantFrom(...'0123456789 <\n\0\rab'.split('')), { maxLength: 400 }).map((a) => Buffer.from(a.join(''), 'latin1')),
    );
    fc.assert(
      fc.property(garbage, cuts, fc.integer({ min: 1, max: 64 }), fc.constantFrom<FramingMode>('auto', 'octet', 'lf', 'nul'), (data, c, max, mode) => {
        const chunks = splitAt(data, c.map((x) => x % (data.length + 1)));
        const { frames } = frameAll(chunks, { maxFrameBytes: max, mode }, (f) => {
          expect(f.bufferedBytes).toBeLessThanOrEqual(max + HEADER_SLACK_BYTES);
        });
        const total = frames.reduce((n, f) => n + f.raw.length, 0);
        expect(total).toBeLessThanOrEqual(data.length);
        for (const f of frames) {
          expect(f.raw.length).toBeGreaterThan(0);
          // A half-read count header may exceed a tiny max; nothing else may.
          expect(f.raw.length).toBeLessThanOrEqual(Math.max(max, HEADER_SLACK_BYTES));
          expect(f.flags & ~(FLAG_TRUNCATED | FLAG_INCOMPLETE)).toBe(0);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('chunk boundaries never change the result (forced modes; auto when the data lacks LF or NUL)', () => {
    const soup = fc.array(fc.constantFrom(...'0123456789 <\n\0\rab'.split('')), { maxLength: 300 }).map((a) => Buffer.from(a.join(''), 'latin1'));
    const mode = fc.constantFrom<FramingMode | 'auto-no-lf' | 'auto-no-nul'>('octet', 'lf', 'nul', 'auto-no-lf', 'auto-no-nul');
    const summary = (r: ReturnType<typeof frameAll>) => ({
      frames: r.frames.map((f) => [f.raw.toString('latin1'), f.flags]),
      empty: r.framer.emptyFrames,
      skipped: r.framer.skippedBytes,
      garbage: r.framer.garbageFrames,
    });
    fc.assert(
      fc.property(fc.oneof(soup, bytes(0, 300)), cuts, fc.integer({ min: 1, max: 40 }), mode, (raw, c, max, m) => {
        const data = m === 'auto-no-lf' ? without(raw, LF) : m === 'auto-no-nul' ? without(raw, NUL) : raw;
        const opts = { maxFrameBytes: max, mode: (m.startsWith('auto') ? 'auto' : m) as FramingMode };
        const whole = summary(frameAll([data], opts));
        expect(summary(frameAll(splitAt(data, c.map((x) => x % (data.length + 1))), opts))).toEqual(whole);
      }),
      { numRuns: 1000 },
    );
  });

  it('over-long frames are truncated and flagged; the following frame is intact', () => {
    const enc = fc.constantFrom<'octet' | 'lf' | 'nul'>('octet', 'lf', 'nul');
    fc.assert(
      fc.property(fc.array(bytes(0, 300), { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 120 }), enc, cuts, (bodies, max, how, c) => {
        const msgs = bodies.map((b) => pri(how === 'lf' ? without(b, LF, NUL) : how === 'nul' ? without(b, NUL) : b));
        const stream = how === 'octet' ? octetEncode(msgs) : termEncode(msgs, how === 'lf' ? LF : NUL);
        const mode: FramingMode = how === 'nul' ? 'nul' : c.length % 2 === 0 ? 'auto' : how;
        const { frames } = frameAll(splitAt(stream, c.map((x) => x % (stream.length + 1))), { maxFrameBytes: max, mode });
        expect(frames.length).toBe(msgs.length);
        frames.forEach((f, i) => {
          const m = msgs[i]!;
          expect(f.raw.equals(m.subarray(0, max))).toBe(true);
          expect(f.flags).toBe(m.length > max ? FLAG_TRUNCATED : 0);
        });
      }),
      RUNS,
    );
  });

  it('a stream closed mid-frame yields the partial frame flagged INCOMPLETE', () => {
    fc.assert(
      fc.property(fc.array(bytes(0, 200).map(pri), { minLength: 1, maxLength: 6 }), fc.nat(), cuts, (msgs, at, c) => {
        const stream = octetEncode(msgs);
        const p = 1 + (at % (stream.length - 1 || 1)); // a cut inside the stream
        const cutStream = stream.subarray(0, p);
        const { frames } = frameAll(splitAt(cutStream, c.map((x) => x % (p + 1))), { maxFrameBytes: 1 << 16 });
        // Walk the encoding to predict what the cut leaves.
        let off = 0;
        const want: { raw: Buffer; flags: number }[] = [];
        for (const m of msgs) {
          const hdr = Buffer.from(`${m.length} `);
          const endOff = off + hdr.length + m.length;
          if (p >= endOff) want.push({ raw: m, flags: 0 });
          else if (p <= off) break;
          else if (p <= off + hdr.length) want.push({ raw: hdr.subarray(0, p - off), flags: FLAG_INCOMPLETE });
          else want.push({ raw: m.subarray(0, p - off - hdr.length), flags: FLAG_INCOMPLETE });
          off = endOff;
        }
        expect(frames.map((f) => [f.raw.toString('hex'), f.flags])).toEqual(want.map((f) => [f.raw.toString('hex'), f.flags]));
      }),
      RUNS,
    );
  });

  it('a count longer than the data: the frame ends INCOMPLETE at close', () => {
    fc.assert(
      fc.property(bytes(0, 200).map(pri), fc.integer({ min: 1, max: 1000 }), cuts, (m, extra, c) => {
        const stream = Buffer.concat([Buffer.from(`${m.length + extra} `), m]);
        const { frames } = frameAll(splitAt(stream, c.map((x) => x % (stream.length + 1))), { maxFrameBytes: 1 << 16 });
        expect(frames).toHaveLength(1);
        expect(frames[0]!.raw.equals(m)).toBe(true);
        expect(frames[0]!.flags).toBe(FLAG_INCOMPLETE);
      }),
      RUNS,
    );
  });

  it('a count shorter than the frame: the leftover is framed on its own and INCOMPLETE at close', () => {
    const letters = fc.string({ unit: fc.constantFrom(...'abcdefghij'.split('')), minLength: 1, maxLength: 50 });
    fc.assert(
      fc.property(bytes(0, 100).map(pri), letters, cuts, (m, rest, c) => {
        const stream = Buffer.concat([Buffer.from(`${m.length} `), m, Buffer.from(rest)]);
        const { frames } = frameAll(splitAt(stream, c.map((x) => x % (stream.length + 1))), { maxFrameBytes: 1 << 16 });
        expect(frames.map((f) => [f.raw.toString('latin1'), f.flags])).toEqual([
          [m.toString('latin1'), 0],
          [rest, FLAG_INCOMPLETE],
        ]);
      }),
      RUNS,
    );
  });

  it('a huge count ("9999999999 <") is bounded: max bytes kept, the rest skipped', () => {
    const max = 4096;
    const f = new StreamFramer({ maxFrameBytes: max });
    const out = f.push(Buffer.from('9999999999 <13>'));
    expect(out).toEqual([]);
    const chunk = Buffer.alloc(65536, 0x61);
    let fed = 4; // "<13>"
    const frames = [];
    for (let i = 0; i < 64; i++) {
      frames.push(...f.push(chunk));
      fed += chunk.length;
      expect(f.bufferedBytes).toBe(0);
    }
    expect(frames).toHaveLength(1);
    expect(frames[0]!.flags).toBe(FLAG_TRUNCATED);
    expect(frames[0]!.raw.length).toBe(max);
    expect(f.skippedBytes).toBe(fed - max);
    expect(f.end()).toEqual([]);
  });

  it('eleven digits are not a count', () => {
    const f = new StreamFramer({ maxFrameBytes: 100 });
    expect(f.push(Buffer.from('99999999999 <13>x\n')).map((x) => x.raw.toString())).toEqual(['99999999999 <13>x']);
  });
});
