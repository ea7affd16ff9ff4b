import { createHash, createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { StoredEntryEncoder } from '../../src/chain/encoding.js';
import { TRANSPORT } from '../../src/chain/entry-format.js';
import { batchCrypto } from '../../src/crypto/select.js';
import { fieldsToJson, parseRecord } from '../../src/parse/index.js';
import type { EntryRow } from '../../src/store/log-store.js';
import { checkBlock, type BlockTask } from '../../src/verify/block-check.js';
import { CHUNK_ENTRIES } from '../../src/verify/chunk-hasher.js';

// verify hashes a block a chunk of entries at a time (one batch-crypto call per chunk), while its
// other checks run row by row. These tests hold the result to what hashing entry by entry gives:
// the same failures, listed in entry order (an entry's MAC failure between its encoding and its
// fields failures), the same cut at --max-failures, across chunk boundaries. `IMMUTALOG_CRYPTO`
// picks the path (.ci/run runs this file on both).

const N = 2 * CHUNK_ENTRIES + 300;
const key = randomBytes(32);
const startHead = randomBytes(32);

function rows(): EntryRow[] {
  const enc = new StoredEntryEncoder();
  let prev = startHead;
  const out: EntryRow[] = [];
  for (let seq = 0; seq < N; seq++) {
    const raw = Buffer.from(`<134>1 2026-12-03T10:00:00.000000Z host svc ${seq} - - message number ${seq}`);
    const r: EntryRow = { seq, block: 0, received_at_us: 1_000 + seq, transport: TRANSPORT.tcp, flags: 0, listener: 'tcp://127.0.0.1:514', peer_address: '127.0.0.1', peer_port: 4000, raw, mac: Buffer.alloc(32), fields: fieldsToJson(parseRecord(raw)) };
    r.mac = prev = createHmac('sha256', key).update(prev).update(enc.leafInput(r).subarray(1)).digest();
    out.push(r);
  }
  return out;
}

function leafRoot(rs: EntryRow[]): Buffer {
  const enc = new StoredEntryEncoder();
  const mth = (l: Buffer[]): Buffer => {
    if (l.length === 1) return l[0]!;
    let k = 1;
    while (k * 2 < l.length) k *= 2;
    return createHash('sha256').update(Buffer.from([1])).update(mth(l.slice(0, k))).update(mth(l.slice(k))).digest();
  };
  return mth(rs.map((r) => createHash('sha256').update(enc.leafInput(r)).digest()));
}

function task(rs: EntryRow[], maxFailures: number): BlockTask {
  return { block: 0, firstSeq: 0, endSeq: N, startHead, key, expect: { count: N, chainHead: rs[N - 1]!.mac, entryRoot: leafRoot(rs), checkpoint: 1 }, bounds: { fromUs: 0, toUs: 10_000_000 }, maxFailures };
}

describe(`checkBlock hashes ${CHUNK_ENTRIES} entries per call (${batchCrypto.path} path) and lists failures as entry by entry`, () => {
  it('an untouched block of three chunks passes: count, chain head and root', () => {
    const rs = rows();
    const r = checkBlock(task(rs, 1000), rs);
    expect(r.failures).toEqual([]);
    expect(r.checked).toBe(N);
  });

  it('edits across chunk boundaries are listed in entry order, each MAC failure between its encoding and fields failures', () => {
    const rs = rows();
    const good = task(rs, 1000);
    const edited = rows();
    edited[5]!.raw = Buffer.from(edited[5]!.raw.toString().replace(' host ', ' hoop '));
    edited[CHUNK_ENTRIES - 1]!.mac = randomBytes(32);
    edited[CHUNK_ENTRIES + 7]!.peer_port = 70_000;
    edited[CHUNK_ENTRIES + 8]!.received_at_us = 20_000_000;
    edited[2 * CHUNK_ENTRIES]!.fields = '{"v":1}';
    const r = checkBlock(good, edited);
    const listed = r.failures.map((f) => `${f.seq ?? '-'} ${f.code}`);
    expect(listed).toEqual([
      '5 ENTRY_MAC_MISMATCH',
      '5 FIELDS_MISMATCH',
      `${CHUNK_ENTRIES - 1} ENTRY_MAC_MISMATCH`,
      // The next entry chains on the stored (edited) MAC, across the chunk boundary.
      `${CHUNK_ENTRIES} ENTRY_MAC_MISMATCH`,
      `${CHUNK_ENTRIES + 7} ENTRY_BAD_ENCODING`,
      `${CHUNK_ENTRIES + 8} ENTRY_TIME_OUT_OF_BLOCK`,
      `${CHUNK_ENTRIES + 8} ENTRY_MAC_MISMATCH`,
      `${2 * CHUNK_ENTRIES} FIELDS_MISMATCH`,
      '- BLOCK_ROOT_MISMATCH',
    ]);
    const mac = r.failures.find((f) => f.seq === CHUNK_ENTRIES - 1)!;
    expect(mac.actual).toBe(edited[CHUNK_ENTRIES - 1]!.mac.toString('hex'));
    expect(mac.expected).toBe(rs[CHUNK_ENTRIES - 1]!.mac.toString('hex'));
  });

  it('--max-failures keeps the first failures in entry order and counts the rest by code', () => {
    const rs = rows();
    const good = task(rs, 3);
    const edited = rows();
    for (const seq of [3, 900, 1500, 2100]) edited[seq]!.fields = '{"v":1}';
    edited[1000]!.mac = randomBytes(32);
    const r = checkBlock(good, edited);
    expect(r.failures.map((f) => `${f.seq} ${f.code}`)).toEqual(['3 FIELDS_MISMATCH', '900 FIELDS_MISMATCH', '1000 ENTRY_MAC_MISMATCH']);
    expect(r.omitted).toEqual({ ENTRY_MAC_MISMATCH: 1, FIELDS_MISMATCH: 2 });
  });
});
