import { BitcoinFormatError } from './errors.js';
import { checkProofOfWork, parseHeader, type BlockHeader } from './header.js';
import { MerkleBranchError, rootFromBranch } from './merkle-branch.js';
import { AnchorOutputError, locateAnchorOutput, parseTransaction, txid as txidOf, txidInternal } from './tx.js';

/**
 * Offline check that an anchor tx commits to a root and sits in a block: the pieces verify
 * needs, composed in one place so that none is skipped. It does not know which chain is best
 * or how deep the block is; the caller checks getblockhash(height) === header hash and the
 * confirmations.
 */

/** A txid preimage of 64 bytes is indistinguishable from an inner merkle node (see merkle-branch.ts). */
export const MIN_ANCHOR_TX_NON_WITNESS_BYTES = 65;

export type InclusionFailure =
  | 'TX_MALFORMED'
  | 'TX_TOO_SHORT'
  | 'NO_ANCHOR_OUTPUT'
  | 'ANCHOR_AMBIGUOUS'
  | 'ANCHOR_MALFORMED'
  | 'ANCHOR_ROOT_MISMATCH'
  | 'HEADER_MALFORMED'
  | 'POW_INVALID'
  | 'BRANCH_MALFORMED'
  | 'MERKLE_ROOT_MISMATCH';

export interface InclusionInput {
  /** The anchor tx as RPC returns it (with or without witness). */
  rawTx: Buffer;
  /** Siblings from leaf to root, internal order (merkleBranch). */
  branch: readonly Buffer[];
  index: number;
  /** The 80-byte header (getblockheader <hash> false). */
  header: Buffer;
  /** The block's tx count, for the exact shape check. */
  txCount?: number;
  /** The batch root the OP_RETURN must carry. */
  expectedRoot?: Buffer;
  /** The chain's powLimit, to refuse bits easier than the chain allows. */
  powLimit?: bigint;
}

export type InclusionResult =
  | { ok: true; txid: string; root: Buffer; vout: number; header: BlockHeader }
  | { ok: false; code: InclusionFailure; detail: string };

function fail(code: InclusionFailure, detail: string): InclusionResult {
  return { ok: false, code, detail };
}

export function verifyAnchorInclusion(input: InclusionInput): InclusionResult {
  let tx;
  try {
    tx = parseTransaction(input.rawTx);
  } catch (e) {
    if (e instanceof BitcoinFormatError) return fail('TX_MALFORMED', e.message);
    throw e;
  }
  // Only a tx with inputs can be mined; a zero-input reading is the legacy side of the 00 01 ambiguity.
  if (tx.inputs.length === 0) return fail('TX_MALFORMED', 'the tx has no inputs, so it cannot be in a block');
  if (tx.nonWitnessBytes.length < MIN_ANCHOR_TX_NON_WITNESS_BYTES) {
    return fail('TX_TOO_SHORT', `non-witness serialization is ${tx.nonWitnessBytes.length} bytes; at most 64 could pose as an inner merkle node`);
  }
  let anchor;
  try {
    anchor = locateAnchorOutput(tx);
  } catch (e) {
    if (e instanceof AnchorOutputError) return fail(e.code, e.message);
    throw e;
  }
  if (anchor === undefined) return fail('NO_ANCHOR_OUTPUT', 'the tx has no OP_RETURN output');
  if (input.expectedRoot !== undefined && !anchor.root.equals(input.expectedRoot)) {
    return fail('ANCHOR_ROOT_MISMATCH', `OP_RETURN carries ${anchor.root.toString('hex')}, expected ${input.expectedRoot.toString('hex')}`);
  }
  let header: BlockHeader;
  try {
    header = parseHeader(input.header);
  } catch (e) {
    if (e instanceof BitcoinFormatError) return fail('HEADER_MALFORMED', e.message);
    throw e;
  }
  if (!checkProofOfWork(header, input.powLimit)) return fail('POW_INVALID', `block ${header.hash} does not meet the target of bits ${header.bitsHex}`);
  const opts = input.txCount === undefined ? {} : { txCount: input.txCount };
  let root: Buffer;
  try {
    root = rootFromBranch(txidInternal(tx), input.branch, input.index, opts);
  } catch (e) {
    if (e instanceof MerkleBranchError) return fail('BRANCH_MALFORMED', e.message);
    throw e;
  }
  if (!root.equals(header.merkleRootInternal)) {
    return fail('MERKLE_ROOT_MISMATCH', `branch leads to ${Buffer.from(root).reverse().toString('hex')}, block ${header.hash} has merkle root ${header.merkleRoot}`);
  }
  return { ok: true, txid: txidOf(tx), root: anchor.root, vout: anchor.vout, header };
}
