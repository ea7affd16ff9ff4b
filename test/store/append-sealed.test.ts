// Entries.appendSealed takes the sequencer's sealed batches (chain/batch.ts) into the entries
// table: through the rows extension's immutalog_batch one BLOB per batch, else row by row. Both
// paths must store exactly the rows a plain insert of the same columns stores (strings with
// escapes, non-ASCII and astral characters, empty and 64 KiB messages, several listeners), all
// or none of a transaction, and the extension must refuse a batch whose layout does not add up
// rather than store a row of it.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it as vitestIt } from 'vitest';
import { sealBatch, type ChainPosition, type SealInput } from '../../src/chain/batch.js';
import { fieldsToJson, parseRecord } from '../../src/parse/index.js';
import { LogStore, type EntryRow } from '../../src/store/log-store.js';
import { ROWS_ENV, type RowsPath } from '../../src/store/rows-extension.js';
import { needClients } from '../clients/available.js';
import { useEnv } from '../helpers/env.js';

const dir = mkdtempSync(join(tmpdir(), 'immutalog-append-sealed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const TEXTS = [
  '<134>1 2026-11-26T12:00:00Z host tacker-server - - - 2026-11-26 12:00:00.000 42 INFO tacker.vnfm [req-1 u p - - -] caf\u00e9 \u{1f600}',
  '<11>Nov 26 12:00:00 host app: "quoted" \\ back\tslash \u0001 control',
  '{"message": "json \u00fc", "levelname": "ERROR", "name": "tacker", "process": 7}',
  '',
];

/** Items of a few connections, with awkward messages among random ones. */
function items(n: number): SealInput[] {
  const names: [string, string][] = [['udp://127.0.0.1:5514', '::1'], ['tcp://[::1]:6514', '127.0.0.1'], ['tls://caf\u00e9:1', '\u{1f600}']];
  return Array.from({ length: n }, (_, i) => {
    const [listener, peerAddress] = names[Math.floor(i / 7) % names.length]!;
    const raw = i < TEXTS.length ? Buffer.from(TEXTS[i]!, 'utf8') : i % 50 === 9 ? Buffer.alloc(65_536, 0x61) : randomBytes(i % 300);
    return { receivedAtUs: 1_700_000_000_000_000 + i, transport: (['udp', 'tcp', 'tls'] as const)[i % 3]!, flags: i % 2 ? 4 : 0, listener, peerAddress, peerPort: i % 65_536, raw };
  });
}

/** Sealed batches of the given sizes, one after another on one chain, and the rows they hold. */
function sealed(sizes: number[]): { batches: Buffer[]; want: EntryRow[] } {
  let at: ChainPosition = { nextSeq: 0, head: Buffer.alloc(32, 1), block: 3, blockKey: Buffer.alloc(32, 2) };
  const batches: Buffer[] = [];
  const want: EntryRow[] = [];
  for (const n of sizes) {
    const its = items(n);
    const json = its.map((it) => Buffer.from(fieldsToJson(parseRecord(it.raw)), 'utf8'));
    let end = 0;
    const { batch, next } = sealBatch(at, its, { bytes: Buffer.concat(json), ends: json.map((j) => (end += j.length)) });
    batches.push(batch.buffer);
    its.forEach((it, i) => {
      want.push({
        seq: at.nextSeq + i, block: at.block, received_at_us: it.receivedAtUs, transport: { udp: 1, tcp: 2, tls: 3 }[it.transport], flags: it.flags, listener: it.listener,
        peer_address: it.peerAddress, peer_port: it.peerPort, raw: Buffer.from(it.raw), mac: Buffer.alloc(0), fields: json[i]!.toString('utf8'),
      });
    });
    at = next;
  }
  return { batches, want };
}

const extension = needClients('rows-extension');
const PATHS: RowsPath[] = ['native', 'sql'];

describe.each(PATHS)('Entries.appendSealed, %s rows', (path) => {
  const it = path === 'native' ? extension.it : vitestIt;
  useEnv(ROWS_ENV, path);
  const open = (): LogStore => LogStore.open(join(dir, `${path}-${files++}.sqlite`), { create: true });

  it('stores every row of every batch with the columns sealBatch was given', () => {
    const { batches, want } = sealed([1, 0, 120, 7]);
    const s = open();
    expect(s.entries.rows).toBe(path);
    s.entries.appendSealed(batches);
    const got = [...s.entries.range(0, 1000)];
    s.close();
    expect(got.map((r) => ({ ...r, mac: Buffer.alloc(0) }))).toEqual(want);
    // MACs chain: each is 32 bytes and differs from its predecessor's.
    expect(got.every((r, i) => r.mac.length === 32 && (i === 0 || !r.mac.equals(got[i - 1]!.mac)))).toBe(true);
  });

  it('stores nothing of a transaction that fails part-way, and goes on after it', () => {
    const { batches } = sealed([5, 5]);
    const s = open();
    // The second batch again: its sequence numbers are taken, the primary key refuses it.
    expect(() => s.entries.appendSealed([batches[0]!, batches[1]!, batches[1]!])).toThrow(/UNIQUE|PRIMARY/);
    expect([...s.entries.range(0, 100)]).toEqual([]);
    s.entries.appendSealed(batches);
    expect([...s.entries.range(0, 100)].map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    s.close();
  });

  it('refuses a batch whose layout does not add up, storing none of it', () => {
    const { batches } = sealed([3]);
    const good = batches[0]!;
    const cut = (b: Buffer, f: (c: Buffer) => void): Buffer => {
      const c = Buffer.from(b);
      f(c);
      return c;
    };
    const BAD: [string, Buffer][] = [
      ['short', good.subarray(0, 8)],
      ['truncated', good.subarray(0, good.length - 1)],
      ['count too high', cut(good, (c) => c.writeUInt32BE(4, 4))],
      ['fields offset past the end', cut(good, (c) => c.writeUInt32BE(c.length + 1, 8))],
      ['entry length past the entries', cut(good, (c) => c.writeUInt32BE(0xffff_fff0, 12))],
      ['not a leaf prefix', cut(good, (c) => { c[16] = 0x01; })],
      ['listener length past the entry', cut(good, (c) => c.writeUInt16BE(0xffff, 12 + 5 + 22))],
    ];
    const s = open();
    for (const [what, b] of BAD) {
      expect(() => s.entries.appendSealed([b]), what).toThrow();
      expect([...s.entries.range(0, 100)], what).toEqual([]);
    }
    s.close();
  });
});
