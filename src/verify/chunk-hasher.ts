import { HASH_BYTES, SKIP_SPAN } from '../crypto/batch-crypto.js';
import { batchCrypto } from '../crypto/select.js';
import type { MerkleAccumulator } from '../checkpoint/merkle.js';
import type { BlockFailures } from './failure-log.js';
import type { Failure, ReasonCode } from './failures.js';

/** Entries hashed per batch-crypto call: enough to make the call's own cost vanish, little memory. */
export const CHUNK_ENTRIES = 1024;

/** Where a failure falls among one entry's checks: the MAC check sits between encoding and fields. */
export type Stage = 'before-mac' | 'after-mac';

interface Pending {
  index: number;
  stage: Stage;
  code: ReasonCode;
  /** Built at once while it may still be listed (see push), so it never reads a later row. */
  failure: Failure | undefined;
}

/**
 * A block's MACs and leaf hashes, a chunk of entries at a time: each entry's leaf input and
 * stored MAC are copied into one buffer and hashed in one call. The other checks of those entries
 * run as their rows are read, so their failures wait here until the chunk is hashed, and then go
 * to the block's list in entry order with the MAC failures: the listed failures are the same, in
 * the same order, as when every entry was hashed on its own.
 */
export class ChunkHasher {
  private buf = Buffer.allocUnsafe(CHUNK_ENTRIES * 512);
  private used = 0;
  private n = 0;
  private readonly macSpans = new Uint32Array(2 * CHUNK_ENTRIES);
  private readonly leafSpans = new Uint32Array(2 * CHUNK_ENTRIES);
  private readonly macAt = new Uint32Array(CHUNK_ENTRIES);
  private readonly seqs = new Float64Array(CHUNK_ENTRIES);
  private readonly times = new Float64Array(CHUNK_ENTRIES);
  private readonly unencodable: number[] = [];
  private readonly expected = Buffer.allocUnsafe(CHUNK_ENTRIES * HASH_BYTES);
  private readonly leaves = Buffer.allocUnsafe(CHUNK_ENTRIES * HASH_BYTES);
  private readonly pending: Pending[] = [];
  /** The MAC the chunk's first entry chains on. */
  private readonly startHead = Buffer.alloc(HASH_BYTES);

  constructor(
    private readonly block: number,
    private readonly key: Buffer | undefined,
    private readonly acc: MerkleAccumulator | undefined,
    private readonly failures: BlockFailures,
    private readonly limit: number,
    head: Uint8Array,
  ) {
    this.startHead.set(head);
  }

  /** A failure of the entry to be added next (all of an entry's failures come before its add), held until its chunk is hashed. */
  push(stage: Stage, code: ReasonCode, evidence: () => Failure): void {
    // Past the limit it cannot be listed whatever the MAC checks add: only counted.
    const listable = this.failures.listed.length + this.pending.length < this.limit;
    this.pending.push({ index: this.n, stage, code, failure: listable ? evidence() : undefined });
  }

  /**
   * One entry: its leaf input `0x00 || enc` (undefined when it could not be encoded) and stored
   * MAC. Its own checks' failures must be pushed before this call.
   */
  add(leafInput: Uint8Array | undefined, mac: Uint8Array, seq: number, receivedAtUs: number): void {
    const i = this.n;
    const need = (leafInput?.length ?? 1) + HASH_BYTES;
    if (this.used + need > this.buf.length) this.grow(need);
    const at = this.used;
    if (leafInput) {
      this.buf.set(leafInput, at);
      this.macSpans[2 * i] = at + 1;
      this.macSpans[2 * i + 1] = at + leafInput.length;
    } else {
      // A lone 0x00 stands in; its leaf hash is replaced by zeros below, so the root still fails.
      this.buf[at] = 0x00;
      this.macSpans[2 * i] = SKIP_SPAN;
      this.macSpans[2 * i + 1] = SKIP_SPAN;
      this.unencodable.push(i);
    }
    const end = at + (leafInput?.length ?? 1);
    this.leafSpans[2 * i] = at;
    this.leafSpans[2 * i + 1] = end;
    this.buf.set(mac, end);
    this.macAt[i] = end;
    this.used = end + HASH_BYTES;
    this.seqs[i] = seq;
    this.times[i] = receivedAtUs;
    this.n++;
    if (this.n === CHUNK_ENTRIES) this.flush();
  }

  private grow(need: number): void {
    if (this.n === 0) {
      this.buf = Buffer.allocUnsafe(Math.max(need, this.buf.length));
    } else {
      const next = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.used + need));
      this.buf.copy(next, 0, 0, this.used);
      this.buf = next;
    }
  }

  /** Hashes the chunk and hands its failures, in entry order, to the block's list. */
  flush(): void {
    const n = this.n;
    let mismatches = 0;
    if (n > 0 && this.key) {
      mismatches = batchCrypto.checkMacs(this.key, this.startHead, this.buf, this.macSpans.subarray(0, 2 * n), this.macAt.subarray(0, n), this.expected);
    }
    if (n > 0 && this.acc) {
      batchCrypto.leafHashes(this.buf, this.leafSpans.subarray(0, 2 * n), this.leaves);
      for (const i of this.unencodable) this.leaves.fill(0, i * HASH_BYTES, (i + 1) * HASH_BYTES);
      this.acc.addLeafHashes(this.leaves, n);
    }
    let next = 0;
    for (const p of this.pending) {
      if (mismatches > 0) next = this.macFailuresBefore(next, p.stage === 'after-mac' ? p.index + 1 : p.index);
      this.failures.push(p.code, () => p.failure!);
    }
    if (mismatches > 0) this.macFailuresBefore(next, n);
    if (n > 0) this.startHead.set(this.buf.subarray(this.macAt[n - 1]!, this.macAt[n - 1]! + HASH_BYTES));
    this.pending.length = 0;
    this.unencodable.length = 0;
    this.n = 0;
    this.used = 0;
  }

  /** Pushes the MAC failures of entries from..end-1; returns end. */
  private macFailuresBefore(from: number, end: number): number {
    for (let i = from; i < end; i++) {
      if (this.macSpans[2 * i] === SKIP_SPAN) continue;
      const want = this.expected.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES);
      const stored = this.buf.subarray(this.macAt[i]!, this.macAt[i]! + HASH_BYTES);
      if (want.equals(stored)) continue;
      const seq = this.seqs[i]!;
      const receivedAtUs = this.times[i]!;
      this.failures.push('ENTRY_MAC_MISMATCH', () => ({ code: 'ENTRY_MAC_MISMATCH', seq, block: this.block, receivedAtUs, expected: want.toString('hex'), actual: stored.toString('hex'), detail: `MAC of entry ${seq} does not match its contents and predecessor` }));
    }
    return Math.max(from, end);
  }
}
