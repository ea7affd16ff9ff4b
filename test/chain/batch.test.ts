// The sequencer-to-storage hand-over: what sealBatch packs, visitSealedRows must give back column for
// column, with each entry's leaf input and MAC as the chain defines them.

import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sealBatch, visitSealedRows, type FieldsJsonBytes, type SealInput, type SealedRowView } from '../../src/chain/batch.js';
import { decodeEntry, type StoredEntryColumns } from '../../src/chain/encoding.js';
import { chainMac } from '../../src/chain/mac.js';
import { TRANSPORT, type TransportName } from '../../src/chain/entry-format.js';
import { rng } from '../receive/helpers.js';

const LISTENERS = ['udp://127.0.0.1:5514', 'tcp://[::1]:5514', 'tls://127.0.0.1:6514'];
const PEERS = ['127.0.0.1', '::1', '127.0.0.2', 'fe80::1%lo'];
const TRANSPORTS: TransportName[] = ['udp', 'tcp', 'tls'];

function frames(seed: number, n: number): SealInput[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const out: SealInput[] = [];
  let listener = pick(LISTENERS);
  let peer = pick(PEERS);
  for (let i = 0; i < n; i++) {
    // Mostly runs from one connection (the case the string cache serves), sometimes a switch.
    if (r() < 0.2) listener = pick(LISTENERS);
    if (r() < 0.3) peer = pick(PEERS);
    const raw = Buffer.alloc(Math.floor(r() * 300));
    for (let k = 0; k < raw.length; k++) raw[k] = Math.floor(r() * 256);
    out.push({ raw, receivedAtUs: 1_700_000_000_000_000 + Math.floor(r() * 1e12), transport: pick(TRANSPORTS), listener, peerAddress: peer, peerPort: Math.floor(r() * 65536), flags: r() < 0.1 ? 1 : 0 });
  }
  return out;
}

function jsonBytes(json: readonly string[]): FieldsJsonBytes {
  const parts = json.map((j) => Buffer.from(j, 'utf8'));
  const ends: number[] = [];
  let e = 0;
  for (const p of parts) ends.push((e += p.length));
  return { bytes: Buffer.concat(parts), ends };
}

type Row = StoredEntryColumns & { block: number; mac: Buffer; fields: string };

/**
 * The rows visitSealedRows passes, each copied out of the one object it refills (buffers stay
 * views into the batch), with each leaf input passed to `onLeafInput`.
 */
function unpackRows(buf: Buffer, onLeafInput: (leafInput: Buffer) => void): { block: number; rows: Row[] } {
  const rows: Row[] = [];
  const seen = new Set<SealedRowView>();
  const { block, count } = visitSealedRows(buf, (r) => {
    seen.add(r);
    onLeafInput(Buffer.from(r.leafInput.buffer, r.leafInput.byteOffset, r.leafInput.byteLength));
    rows.push({
      seq: r.seq, block: r.block, received_at_us: r.received_at_us, transport: r.transport, flags: r.flags, listener: r.listener,
      peer_address: r.peer_address, peer_port: r.peer_port, raw: Buffer.from(r.raw), mac: Buffer.from(r.mac), fields: Buffer.from(r.fieldsUtf8).toString('utf8'),
    });
  });
  expect(count).toBe(rows.length);
  // One object, refilled: the storage thread makes no object per row.
  expect(seen.size).toBe(Math.min(rows.length, 1));
  return { block, rows };
}

describe('sealBatch → visitSealedRows', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`seed ${seed}: every column, leaf input and MAC comes back as sealed`, () => {
      const items = frames(seed, 200);
      const fields = items.map((_, i) => (i % 7 === 0 ? `{"v":1,"fmt":"none","msg":"é ${i}"}` : `{"v":1,"fmt":"rfc5424","i":${i}}`));
      const key = randomBytes(32);
      const head0 = randomBytes(32);
      const { batch, next } = sealBatch({ nextSeq: 1000 + seed, head: head0, block: 7, blockKey: key }, items, jsonBytes(fields));
      const leafInputs: Buffer[] = [];
      const { block, rows } = unpackRows(batch.buffer, (l) => leafInputs.push(Buffer.from(l)));
      expect(block).toBe(7);
      expect(rows).toHaveLength(items.length);
      let head: Buffer = head0;
      for (let i = 0; i < items.length; i++) {
        const it = items[i]!;
        const row = rows[i]!;
        expect(row).toMatchObject({
          seq: 1000 + seed + i, block: 7, received_at_us: it.receivedAtUs, transport: TRANSPORT[it.transport], flags: it.flags,
          listener: it.listener, peer_address: it.peerAddress, peer_port: it.peerPort, fields: fields[i],
        });
        expect(row.raw.equals(it.raw)).toBe(true);
        // The leaf input is 0x00 || the canonical encoding, which decodes to the same entry.
        const leaf = leafInputs[i]!;
        expect(leaf[0]).toBe(0x00);
        const d = decodeEntry(leaf.subarray(1));
        expect(d).toMatchObject({ seq: row.seq, receivedAtUs: it.receivedAtUs, transport: it.transport, listener: it.listener, peerAddress: it.peerAddress, peerPort: it.peerPort });
        head = chainMac(key, head, leaf.subarray(1));
        expect(row.mac.equals(head)).toBe(true);
      }
      expect(next.head.equals(head)).toBe(true);
      expect(next.nextSeq).toBe(1000 + seed + items.length);
    });
  }

  it('an empty batch unpacks to no rows', () => {
    const { batch } = sealBatch({ nextSeq: 0, head: Buffer.alloc(32), block: 0, blockKey: Buffer.alloc(32, 1) }, [], jsonBytes([]));
    expect(unpackRows(batch.buffer, () => undefined).rows).toEqual([]);
  });

  it('a damaged batch is refused, not misread', () => {
    const items = frames(9, 3);
    const { batch } = sealBatch({ nextSeq: 0, head: Buffer.alloc(32), block: 0, blockKey: Buffer.alloc(32, 1) }, items, jsonBytes(['{}', '{}', '{}']));
    const cut = batch.buffer.subarray(0, batch.buffer.length - 1);
    expect(() => unpackRows(cut, () => undefined)).toThrow(/batch/);
    const badVersion = Buffer.from(batch.buffer);
    badVersion[12 + 5] = 0x02; // after the 12-byte header: u32 length, 0x00, then the version byte
    expect(() => unpackRows(badVersion, () => undefined)).toThrow(/not a sealed v1 entry/);
    // The hash of the leaf input is what storage files; check that it covers the whole entry.
    const leaves: Buffer[] = [];
    unpackRows(batch.buffer, (l) => leaves.push(createHash('sha256').update(l).digest()));
    expect(new Set(leaves.map((l) => l.toString('hex'))).size).toBe(3);
  });
});
