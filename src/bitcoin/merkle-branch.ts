import { HASH_BYTES, displayHexToInternal, sha256d } from './bytes.js';

/**
 * Bitcoin's block merkle tree (consensus/merkle.cpp): leaves are txids in internal byte order,
 * a node is SHA-256d(left ‖ right), and a level with an odd count pairs its last node with
 * itself. A branch lists, from the leaf up, the sibling at each level; bit h of `index` says
 * whether our node is the right (1) or left (0) child at level h.
 *
 * What a branch check proves, and what it does not:
 * - rootFromBranch(txid, branch, index) === header.merkleRootInternal proves that the 32 bytes
 *   `txid` are committed in that header's tree at that path. It says nothing about whether the
 *   header is in the best chain, buried deeply enough, or has the right difficulty for its
 *   height; those need the chain (getblockhash(height) and confirmations).
 * - CVE-2012-2459 (duplicate-last): the tree of [a, b, c] and of [a, b, c, c] have the same
 *   root, so a root does not fix the tx count. A legitimate duplication only ever pairs a node
 *   with *itself as its right sibling* (we are the left child, last on an odd level). A branch
 *   in which we are the right child and the left sibling equals our node is therefore never
 *   valid and is rejected. With `txCount` (getblock's nTx, or gettxoutproof's count) the check is
 *   exact: the branch length must be the tree depth, the index below txCount, and a sibling
 *   must equal our node exactly at the levels where we are the padded last node.
 * - 64-byte transactions: an inner node is SHA-256d of 64 bytes, as is the txid of a 64-byte
 *   tx, so a branch cannot tell a leaf from an inner node. The checker must therefore hash the
 *   tx bytes itself and require a non-witness serialization longer than 64 bytes (the anchor
 *   tx is ≥ 94); inclusion.ts does. Then `txid` cannot be an inner node. A 64-byte tx in the
 *   block could still let someone claim a *fake* deeper leaf under it (costly to construct;
 *   BIP 54 proposes forbidding such txs); `txCount` closes that too, since every leaf is at
 *   the same depth, but nTx is reported by the node and not committed in the header.
 */

/** Core's bound on a block's tx count (MAX_BLOCK_WEIGHT / MIN_TRANSACTION_WEIGHT = 4e6 / 240). */
export const MAX_BLOCK_TXS = Math.floor(4_000_000 / 240);

export function merkleNode(left: Buffer, right: Buffer): Buffer {
  return sha256d(Buffer.concat([left, right]));
}

/** Number of levels (branch length) of the tree over txCount leaves. */
export function branchLength(txCount: number): number {
  if (!Number.isInteger(txCount) || txCount < 1) throw new RangeError(`tx count must be a positive integer, got ${txCount}`);
  let depth = 0;
  for (let w = txCount; w > 1; w = Math.ceil(w / 2)) depth++;
  return depth;
}

/** The branch for leaf `index` of a tree over internal-order txids. */
export function merkleBranchInternal(txids: readonly Buffer[], index: number): { branch: Buffer[]; index: number } {
  if (txids.length === 0) throw new RangeError('merkle branch: no txids');
  if (!Number.isInteger(index) || index < 0 || index >= txids.length) throw new RangeError(`merkle branch: index must be in 0..${txids.length - 1}, got ${index}`);
  for (const t of txids) if (t.length !== HASH_BYTES) throw new RangeError(`merkle branch: txids must be ${HASH_BYTES} bytes, got ${t.length}`);
  const branch: Buffer[] = [];
  let level: Buffer[] = txids.slice();
  let pos = index;
  while (level.length > 1) {
    const sibling = pos ^ 1;
    branch.push(Buffer.from(level[sibling < level.length ? sibling : pos]!));
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(merkleNode(level[i]!, level[i + 1] ?? level[i]!));
    level = next;
    pos >>= 1;
  }
  return { branch, index };
}

/** The branch for tx `index` of a block, from getblock's `tx` list (display hex, block order). */
export function merkleBranch(txidsDisplayHex: readonly string[], index: number): { branch: Buffer[]; index: number } {
  return merkleBranchInternal(txidsDisplayHex.map(displayHexToInternal), index);
}

/**
 * The merkle root of a whole block, as Core's ComputeMerkleRoot: `mutated` is set when some
 * level has two equal adjacent nodes (the CVE-2012-2459 pattern; Core rejects such blocks).
 */
export function blockMerkleRoot(txids: readonly Buffer[]): { root: Buffer; mutated: boolean } {
  if (txids.length === 0) throw new RangeError('merkle root: no txids');
  let mutated = false;
  let level: Buffer[] = txids.slice();
  while (level.length > 1) {
    for (let i = 0; i + 1 < level.length; i += 2) if (level[i]!.equals(level[i + 1]!)) mutated = true;
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(merkleNode(level[i]!, level[i + 1] ?? level[i]!));
    level = next;
  }
  return { root: Buffer.from(level[0]!), mutated };
}

export class MerkleBranchError extends Error {
  readonly code = 'BRANCH_MALFORMED';
  constructor(message: string) {
    super(message);
    this.name = 'MerkleBranchError';
  }
}

export interface BranchOptions {
  /** The block's tx count; enables the exact shape check described above. */
  txCount?: number;
}

/**
 * The merkle root (internal order) that `txid` (internal order) reaches through `branch` at
 * `index`. Throws MerkleBranchError (code BRANCH_MALFORMED) when the branch is malformed: an
 * element that is not 32 bytes, an index that does not fit the branch (index ≥ 2^length), more
 * levels than any block can have, a right-child step whose left sibling equals our node
 * (CVE-2012-2459), or, with txCount, a shape that does not match a tree of txCount leaves.
 * A well-formed branch that leads elsewhere is not an error: compare the result with the header.
 */
export function rootFromBranch(txid: Buffer, branch: readonly Buffer[], index: number, opts: BranchOptions = {}): Buffer {
  const bad = (why: string): never => {
    throw new MerkleBranchError(`merkle branch (${branch.length} levels, index ${index}${opts.txCount === undefined ? '' : `, ${opts.txCount} txs`}): ${why}`);
  };
  if (txid.length !== HASH_BYTES) bad(`the txid is ${txid.length} bytes, not ${HASH_BYTES}`);
  if (!Number.isInteger(index) || index < 0) bad('the index is not a non-negative integer');
  const maxLevels = branchLength(MAX_BLOCK_TXS);
  if (branch.length > maxLevels) bad(`more than ${maxLevels} levels`);
  if (index >= 2 ** branch.length) bad(`index does not fit in ${branch.length} levels`);
  const { txCount } = opts;
  if (txCount !== undefined) {
    if (!Number.isInteger(txCount) || txCount < 1 || txCount > MAX_BLOCK_TXS) bad(`tx count must be in 1..${MAX_BLOCK_TXS}`);
    if (index >= txCount) bad('index is not below the tx count');
    if (branch.length !== branchLength(txCount)) bad(`a block of ${txCount} txs has ${branchLength(txCount)} levels`);
  }
  let node = txid;
  let width = txCount;
  for (let h = 0; h < branch.length; h++) {
    const sibling = branch[h]!;
    if (sibling.length !== HASH_BYTES) bad(`level ${h}: sibling is ${sibling.length} bytes`);
    const pos = Math.floor(index / 2 ** h);
    const isRight = pos % 2 === 1;
    const same = sibling.equals(node);
    if (isRight && same) bad(`level ${h}: left sibling equals our node (CVE-2012-2459 duplicate)`);
    if (width !== undefined) {
      const paddedLast = !isRight && pos === width - 1;
      if (paddedLast && !same) bad(`level ${h}: we are the last of ${width} nodes, so the sibling must be our own node`);
      if (!paddedLast && same) bad(`level ${h}: sibling equals our node (CVE-2012-2459 duplicate)`);
      width = Math.ceil(width / 2);
    }
    node = isRight ? merkleNode(sibling, node) : merkleNode(node, sibling);
  }
  return node;
}

/** The branch is well formed and leads to `merkleRoot` (internal order, e.g. header.merkleRootInternal). */
export function verifyBranch(txid: Buffer, branch: readonly Buffer[], index: number, merkleRoot: Buffer, opts: BranchOptions = {}): boolean {
  try {
    return rootFromBranch(txid, branch, index, opts).equals(merkleRoot);
  } catch (e) {
    if (e instanceof MerkleBranchError) return false;
    throw e;
  }
}
