// leafInputInPlace (verify's chunked read) must lay out exactly what StoredEntryEncoder.leafInput
// gives for the same columns around the bytes already in place, and refuse (-1, writing nothing)
// exactly the rows that encoder throws on.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EncodingError, LEAF_GAP_AFTER_LISTENER, LEAF_GAP_AFTER_PEER, LEAF_HEAD_BYTES, leafInputInPlace, StoredEntryEncoder, type StoredEntryColumns,
} from '../../src/chain/encoding.js';

/** The row's variable fields as verify's chunk lays them out, behind and before other bytes. */
function laidOut(r: StoredEntryColumns, before: number) {
  const l = Buffer.from(r.listener, 'utf8');
  const p = Buffer.from(r.peer_address, 'utf8');
  const free = (n: number) => Buffer.alloc(n, 0xaa);
  const b = Buffer.concat([free(before + LEAF_HEAD_BYTES), l, free(LEAF_GAP_AFTER_LISTENER), p, free(LEAF_GAP_AFTER_PEER), r.raw, free(7)]);
  const rawEnd = b.length - 7;
  return { b, rawEnd, at: { listenerAt: before + LEAF_HEAD_BYTES, listenerLength: l.length, peerLength: p.length, rawLength: r.raw.length } };
}

const anyInt = fc.oneof(fc.integer({ min: -2, max: 70_000 }), fc.constantFrom(2 ** 32, 2 ** 32 - 1, 2 ** 53 - 1, 2 ** 53, -1, 0.5, 1.5));

describe('leafInputInPlace', () => {
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
        (r, before) => {
          let want: string;
          try {
            want = enc.leafInput(r).toString('hex');
          } catch (e) {
            if (!(e instanceof EncodingError)) throw e;
            want = 'refused';
          }
          const { b, rawEnd, at } = laidOut(r, before);
          const untouched = Buffer.from(b);
          const start = leafInputInPlace(b, at, r.seq, r.received_at_us, r.transport, r.flags, r.peer_port);
          expect(start < 0 ? 'refused' : b.subarray(start, rawEnd).toString('hex')).toBe(want);
          if (start < 0) expect(b.equals(untouched)).toBe(true);
          else expect(start).toBe(before);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
