import { HASH_BYTES, SKIP_SPAN } from '../crypto/batch-crypto.js';
import { batchCrypto } from '../crypto/select.js';
import { chainMac } from '../chain/mac.js';
import { leafHashOfPrefixed, type MerkleAccumulator } from '../checkpoint/merkle.js';
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
 * stored MAC are hashed in one call, either where they lie in the reader's chunk (addInPlace,
 * until the chunk changes) or copied into one buffer of the hasher's own (add). The other checks of those entries
 * run as their rows are read, so their failures wait here until the chunk is hashed, and then go
 * to the block's list in entry order with the MAC failures: the listed failures are the same, in
 * the same order, as when every entry was hashed on its own.
 */
export class ChunkHasher {
  private buf = Buffer.allocUnsafe(CHUNK_ENTRIES * 512);
  /** The buffer the pending entries' spans point into: buf, or the reader's chunk. */
  private src: Buffer = this.buf;
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
  /** The previous entry's stored MAC when it is not HASH_BYTES long (a tampered row): the next entry chains on it. */
  private oddHead: Buffer | undefined;

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
    if (mac.length !== HASH_BYTES || this.oddHead !== undefined) {
      this.addAlone(leafInput, mac, seq, receivedAtUs);
      return;
    }
    if (this.src !== this.buf) this.switchTo(this.buf);
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

  /**
   * add() for an entry whose leaf input is chunk[leafAt, macAt) with its stored MAC right after
   * it, chunk[macAt, macEnd): hashed there, not copied. A chunk other than the pending entries'
   * first has those hashed.
   */
  addInPlace(chunk: Buffer, leafAt: number, macAt: number, macEnd: number, seq: number, receivedAtUs: number): void {
    if (macEnd - macAt !== HASH_BYTES || this.oddHead !== undefined) {
      this.addAlone(chunk.subarray(leafAt, macAt), chunk.subarray(macAt, macEnd), seq, receivedAtUs);
      return;
    }
    if (this.src !== chunk) this.switchTo(chunk);
    const i = this.n;
    this.macSpans[2 * i] = leafAt + 1;
    this.macSpans[2 * i + 1] = macAt;
    this.leafSpans[2 * i] = leafAt;
    this.leafSpans[2 * i + 1] = macAt;
    this.macAt[i] = macAt;
    this.seqs[i] = seq;
    this.times[i] = receivedAtUs;
    this.n++;
    if (this.n === CHUNK_ENTRIES) this.flush();
  }

  /**
   * An entry whose stored MAC, or whose predecessor's, is not HASH_BYTES long: the chunk's
   * layout holds MACs of that length only, so it is checked on its own, after the chunk so far,
   * as every entry was before chunks (a MAC of another length never matches, and its evidence
   * is the stored bytes).
   */
  private addAlone(leafInput: Uint8Array | undefined, mac: Uint8Array, seq: number, receivedAtUs: number): void {
    const own = this.pending.filter((p) => p.index === this.n);
    this.pending.length -= own.length;
    this.flush();
    for (const p of own) if (p.stage === 'before-mac') this.failures.push(p.code, () => p.failure!);
    if (leafInput && this.key) {
      const want = chainMac(this.key, this.oddHead ?? this.startHead, Buffer.from(leafInput.buffer, leafInput.byteOffset + 1, leafInput.length - 1));
      if (!want.equals(mac)) {
        this.failures.push('ENTRY_MAC_MISMATCH', () => ({ code: 'ENTRY_MAC_MISMATCH', seq, block: this.block, receivedAtUs, expected: want.toString('hex'), actual: Buffer.from(mac).toString('hex'), detail: `MAC of entry ${seq} does not match its contents and predecessor` }));
      }
    }
    this.acc?.addLeafHash(leafInput ? leafHashOfPrefixed(leafInput) : Buffer.alloc(HASH_BYTES));
    for (const p of own) if (p.stage === 'after-mac') this.failures.push(p.code, () => p.failure!);
    if (mac.length === HASH_BYTES) {
      this.startHead.set(mac);
      this.oddHead = undefined;
    } else {
      this.oddHead = Buffer.from(mac);
    }
  }

  /**
   * Hashes the pending entries, whose spans point into the current source, and points the next
   * ones into `src`. The failures already pushed for the entry being added belong after its
   * own MAC check: they stay pending, ahead of it.
   */
  private switchTo(src: Buffer): void {
    const own = this.pending.filter((p) => p.index === this.n);
    this.pending.length -= own.length;
    this.flush();
    for (const p of own) this.pending.push({ ...p, index: 0 });
    this.src = src;
  }

  private grow(need: number): void {
    if (this.n === 0) {
      this.buf = Buffer.allocUnsafe(Math.max(need, this.buf.length));
    } else {
      const next = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.used + need));
      this.buf.copy(next, 0, 0, this.used);
      this.buf = next;
    }
    this.src = this.buf;
  }

  /** Hashes the chunk and hands its failures, in entry order, to the block's list. */
  flush(): void {
    const n = this.n;
    const src = this.src;
    let mismatches = 0;
    if (n > 0 && this.key) {
      mismatches = batchCrypto.checkMacs(this.key, this.startHead, src, this.macSpans.subarray(0, 2 * n), this.macAt.subarray(0, n), this.expected);
    }
    if (n > 0 && this.acc) {
      batchCrypto.leafHashes(src, this.leafSpans.subarray(0, 2 * n), this.leaves);
      for (const i of this.unencodable) this.leaves.fill(0, i * HASH_BYTES, (i + 1) * HASH_BYTES);
      this.acc.addLeafHashes(this.leaves, n);
    }
    let next = 0;
    for (const p of this.pending) {
      if (mismatches > 0) next = this.macFailuresBefore(next, p.stage === 'after-mac' ? p.index + 1 : p.index);
      this.failures.push(p.code, () => p.failure!);
    }
    if (mismatches > 0) this.macFailuresBefore(next, n);
    if (n > 0) this.startHead.set(src.subarray(this.macAt[n - 1]!, this.macAt[n - 1]! + HASH_BYTES));
    this.pending.length = 0;
    this.unencodable.length = 0;
    this.n = 0;
    this.used = 0;
    // The reader's chunk is not held past its entries.
    this.src = this.buf;
  }

  /** Pushes the MAC failures of entries from..end-1; returns end. */
  private macFailuresBefore(from: number, end: number): number {
    for (let i = from; i < end; i++) {
      if (this.macSpans[2 * i] === SKIP_SPAN) continue;
      const want = this.expected.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES);
      const stored = this.src.subarray(this.macAt[i]!, this.macAt[i]! + HASH_BYTES);
      if (want.equals(stored)) continue;
      const seq = this.seqs[i]!;
      const receivedAtUs = this.times[i]!;
      this.failures.push('ENTRY_MAC_MISMATCH', () => ({ code: 'ENTRY_MAC_MISMATCH', seq, block: this.block, receivedAtUs, expected: want.toString('hex'), actual: stored.toString('hex'), detail: `MAC of entry ${seq} does not match its contents and predecessor` }));
    }
    return Math.max(from, end);
  }
}
