// writeLeafInput (verify's chunked read) must write exactly what StoredEntryEncoder.leafInput
// gives for the same columns, and refuse (-1) exactly the rows that encoder throws on.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EncodingError, StoredEntryEncoder, writeLeafInput, type StoredEntryColumns } from '../../src/chain/encoding.js';

/** The row's variable fields laid out one after another behind some other bytes, as in a chunk. */
function laidOut(r: StoredEntryColumns, before: number) {
  const l = Buffer.from(r.listener, 'utf8');
  const p = Buffer.from(r.peer_address, 'utf8');
  const src = Buffer.concat([Buffer.alloc(before, 0xee), l, p, r.raw]);
  return { src, listenerAt: before, listenerLength: l.length, peerAt: before + l.length, peerLength: p.length, rawAt: before + l.length + p.length, rawLength: r.raw.length };
}

const anyInt = fc.oneof(fc.integer({ min: -2, max: 70_000 }), fc.constantFrom(2 ** 32, 2 ** 32 - 1, 2 ** 53 - 1, 2 ** 53, -1, 0.5, 1.5));

describe('writeLeafInput', () => {
  it('writes StoredEntryEncoder.leafInput\'s bytes, and refuses what it throws on (property)', () => {
    const enc = new StoredEntryEncoder();
    fc.assert(
      fc.property(
        fc.record({
          seq: fc.oneof(fc.nat(), fc.constantFrom(2 ** 53 - 1, 2 ** 53, -1)), received_at_us: fc.oneof(fc.nat(), fc.constantFrom(2 ** 53 - 1, 2 ** 53, -3, 1.5)),
          transport: fc.integer({ min: -1, max: 5 }), flags: fc.oneof(fc.integer({ min: 0, max: 9 }), anyInt), peer_port: anyInt,
          listener: fc.string({ maxLength: 40 }), peer_address: fc.string({ maxLength: 40 }), raw: fc.uint8Array({ maxLength: 400 }).map((u) => Buffer.from(u)),
        }),
        fc.nat({ max: 50 }),
        fc.nat({ max: 30 }),
        (r, before, start) => {
          let want: string;
          try {
            want = enc.leafInput(r).toString('hex');
          } catch (e) {
            if (!(e instanceof EncodingError)) throw e;
            want = 'refused';
          }
          const out = Buffer.alloc(start + 100 + 4 * 40 + 400, 0xaa);
          const end = writeLeafInput(out, start, r.seq, r.received_at_us, r.transport, r.flags, r.peer_port, laidOut(r, before));
          expect(end < 0 ? 'refused' : out.subarray(start, end).toString('hex')).toBe(want);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
