import { HASH_BYTES } from './bytes.js';
import { merkleNode } from './merkle-branch.js';
import { applyOps, type OtsOp } from './ots.js';
import { AnchorOutputError, locateAnchorOutput, parseTransaction, txidInternal } from './tx.js';
import { BitcoinFormatError } from './errors.js';

/**
 * The OpenTimestamps operations from an anchored hash to the merkle root of the block that
 * holds the anchor transaction, in three parts:
 *
 * 1. `steps` (anchorTimestampOps): the hash up to the 32 bytes the OP_RETURN carries, each step
 *    SHA-256(prefix || msg || suffix) (the anchor round's tree: checkpoint/batch-tree.ts
 *    anchorPathSteps): prepend prefix, append suffix, sha256, leaving out an empty prepend or
 *    append (a reader refuses an empty argument);
 * 2. the transaction (txTimestampOps): prepend the non-witness bytes before the root, append
 *    those after it, sha256 twice: the txid (internal order). The non-witness bytes, because the
 *    txid, and so the block's tree, hashes those, never the witness;
 * 3. the branch in the block: at each level append (we are the left child) or prepend (the
 *    right) the sibling, then sha256 twice (Bitcoin's node, SHA-256d(left || right)).
 */

export interface HashStep {
  prefix: Buffer;
  suffix: Buffer;
}

export class OtsPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OtsPathError';
  }
}

export interface TxOtsInput {
  /** The anchor transaction as stored (with or without witness). */
  rawTx: Buffer;
  /** Siblings from the tx up, internal order. */
  branch: readonly Buffer[];
  /** The tx's position in the block. */
  index: number;
}

/** Parts 2 and 3: from the 32 bytes the OP_RETURN carries to the block's merkle root. */
export interface TxOts {
  ops: OtsOp[];
  /** What the OP_RETURN carries: where part 1 must lead. */
  anchorRoot: Buffer;
  /** Display hex. */
  txid: string;
  /** Where the operations end: the block's merkle root, internal order, if the branch is the block's. */
  merkleRoot: Buffer;
}

function concatThenSha256(prefix: Buffer, suffix: Buffer): OtsOp[] {
  const ops: OtsOp[] = [];
  if (prefix.length > 0) ops.push({ op: 'prepend', arg: prefix });
  if (suffix.length > 0) ops.push({ op: 'append', arg: suffix });
  ops.push({ op: 'sha256' });
  return ops;
}

/**
 * Throws OtsPathError when the transaction has no single anchor output, or the branch is
 * malformed. Whether the merkle root is the block's is for the reader's node to say.
 */
export function txTimestampOps(input: TxOtsInput): TxOts {
  let tx;
  let anchor;
  try {
    tx = parseTransaction(input.rawTx);
    anchor = locateAnchorOutput(tx);
  } catch (e) {
    if (e instanceof BitcoinFormatError || e instanceof AnchorOutputError) throw new OtsPathError(`the anchor transaction: ${e.message}`);
    throw e;
  }
  if (!anchor) throw new OtsPathError('the anchor transaction has no OP_RETURN output');
  const bytes = tx.nonWitnessBytes;
  const ops = [...concatThenSha256(bytes.subarray(0, anchor.rootOffset), bytes.subarray(anchor.rootOffset + HASH_BYTES)), { op: 'sha256' } as OtsOp];
  const txid = txidInternal(tx);
  if (!Number.isInteger(input.index) || input.index < 0 || input.index >= 2 ** input.branch.length) {
    throw new OtsPathError(`tx index ${input.index} does not fit a branch of ${input.branch.length} levels`);
  }
  let node = txid;
  input.branch.forEach((sibling, h) => {
    if (sibling.length !== HASH_BYTES) throw new OtsPathError(`branch level ${h}: expected a ${HASH_BYTES}-byte hash, got ${sibling.length} bytes`);
    const right = Math.floor(input.index / 2 ** h) % 2 === 1;
    ops.push({ op: right ? 'prepend' : 'append', arg: Buffer.from(sibling) }, { op: 'sha256' }, { op: 'sha256' });
    node = right ? merkleNode(sibling, node) : merkleNode(node, sibling);
  });
  const merkleRoot = applyOps(anchor.root, ops);
  // The chain of operations and Bitcoin's own hashing must agree; a mismatch is a bug here.
  if (!merkleRoot.equals(node)) throw new Error('ots: the operations and the merkle branch disagree');
  return { ops, anchorRoot: anchor.root, txid: Buffer.from(txid).reverse().toString('hex'), merkleRoot };
}

/**
 * All three parts from `digest`; throws OtsPathError when the steps do not lead to the root the
 * transaction's OP_RETURN carries.
 */
export function anchorTimestampOps(digest: Buffer, steps: readonly HashStep[], tx: TxOts): OtsOp[] {
  const ops: OtsOp[] = steps.flatMap((s) => concatThenSha256(s.prefix, s.suffix));
  const root = applyOps(digest, ops);
  if (!root.equals(tx.anchorRoot)) throw new OtsPathError(`the proof leads to ${root.toString('hex')}, but the transaction's OP_RETURN carries ${tx.anchorRoot.toString('hex')}`);
  return [...ops, ...tx.ops];
}
