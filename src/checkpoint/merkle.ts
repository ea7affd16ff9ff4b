import { createHash, hash } from 'node:crypto';
import { HASH_BYTES, MERKLE_MAX_DEPTH } from '../crypto/batch-crypto.js';
import { batchCrypto } from '../crypto/select.js';

/** RFC 6962 / RFC 9162 Merkle tree hashing: leaf SHA-256(0x00 || d), node SHA-256(0x01 || l || r). */
const LEAF_PREFIX = Buffer.from([0x00]);

export function leafHash(data: Buffer): Buffer {
  return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
}

/** leafHash of data already laid out as `0x00 || data`: one native call, no hash object. */
export function leafHashOfPrefixed(prefixed: Uint8Array): Buffer {
  if (prefixed[0] !== 0x00) throw new RangeError('leaf input must start with the 0x00 leaf prefix');
  return hash('sha256', prefixed, 'buffer');
}

/** Scratch space for `0x01 || left || right`: hash() copies its input, so one buffer serves every call. */
const nodeInput = Buffer.alloc(65, 0x01);

export function nodeHash(left: Buffer, right: Buffer): Buffer {
  // One-shot hashing of a 65-byte concatenation beats a hash object with three updates.
  if (left.length !== 32 || right.length !== 32) throw new RangeError(`node hash: expected two 32-byte hashes, got ${left.length} and ${right.length} bytes`);
  left.copy(nodeInput, 1);
  right.copy(nodeInput, 33);
  return hash('sha256', nodeInput, 'buffer');
}

/** MTH of the empty list: the hash of the empty string (RFC 9162 §2.1.1). */
export const EMPTY_TREE_ROOT = createHash('sha256').digest();

/**
 * Root of a growing tree from its leaf hashes, kept as the roots of its perfect subtrees
 * (the "compact range"): O(log n) memory however many leaves a block has. Leaves go in a batch
 * at a time through the batch crypto (one native call per batch where the addon is built).
 */
export class MerkleAccumulator {
  private readonly stack = new Uint8Array(MERKLE_MAX_DEPTH * HASH_BYTES);
  private readonly heights = new Uint8Array(MERKLE_MAX_DEPTH);
  private depth = 0;
  size = 0;

  addLeafHash(h: Uint8Array): void {
    if (h.length !== HASH_BYTES) throw new RangeError(`leaf hash: expected ${HASH_BYTES} bytes, got ${h.length}`);
    this.addLeafHashes(h, 1);
  }

  /** Adds `count` leaf hashes laid end to end in `leaves`. */
  addLeafHashes(leaves: Uint8Array, count: number): void {
    if (leaves.length < count * HASH_BYTES) throw new RangeError(`leaf hashes: expected ${count * HASH_BYTES} bytes, got ${leaves.length}`);
    this.depth = batchCrypto.merkleAppend(this.stack, this.heights, this.depth, leaves, count);
    this.size += count;
  }

  root(): Buffer {
    if (this.depth === 0) return EMPTY_TREE_ROOT;
    const at = (k: number): Buffer => Buffer.from(this.stack.buffer, this.stack.byteOffset + k * HASH_BYTES, HASH_BYTES);
    let r: Buffer = Buffer.from(at(this.depth - 1));
    for (let k = this.depth - 2; k >= 0; k--) r = nodeHash(at(k), r);
    return r;
  }
}

export function merkleRoot(leafHashes: readonly Buffer[]): Buffer {
  const acc = new MerkleAccumulator();
  for (const h of leafHashes) acc.addLeafHash(h);
  return acc.root();
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Audit path for leaf `index` (RFC 9162 §2.1.3.1), from the leaf's sibling up to the root. */
export function inclusionProof(leafHashes: readonly Buffer[], index: number): Buffer[] {
  if (!Number.isInteger(index) || index < 0 || index >= leafHashes.length) {
    throw new RangeError(`inclusion proof: expected a leaf index in 0..${leafHashes.length - 1}, got ${index}`);
  }
  const path: Buffer[] = [];
  const walk = (lo: number, hi: number, m: number): void => {
    const n = hi - lo;
    if (n === 1) return;
    const k = largestPowerOfTwoBelow(n);
    if (m < k) {
      walk(lo, lo + k, m);
      path.push(merkleRoot(leafHashes.slice(lo + k, hi)));
    } else {
      walk(lo + k, hi, m - k);
      path.push(merkleRoot(leafHashes.slice(lo, lo + k)));
    }
  };
  walk(0, leafHashes.length, index);
  return path;
}

/** RFC 9162 §2.1.3.2: the root a path leads to, or undefined when the path has the wrong length or shape. */
export function rootFromInclusionProof(leaf: Buffer, index: number, size: number, path: readonly Buffer[]): Buffer | undefined {
  if (!Number.isInteger(index) || !Number.isInteger(size) || index < 0 || index >= size) return undefined;
  if (leaf.length !== 32 || path.some((p) => p.length !== 32)) return undefined;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : undefined;
}
