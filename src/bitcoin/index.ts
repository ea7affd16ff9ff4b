export { BitcoinFormatError, type BitcoinFormatCode } from './errors.js';
export {
  ByteReader,
  HASH_BYTES,
  MAX_COMPACT_SIZE,
  compactSizeLength,
  displayHexToInternal,
  hexToBytes,
  internalToDisplayHex,
  readCompactSize,
  reverseBytes,
  sha256,
  sha256d,
  writeCompactSize,
} from './bytes.js';
export {
  ANCHOR_SCRIPT_BYTES,
  AnchorOutputError,
  findAnchorOutput,
  locateAnchorOutput,
  parseTransaction,
  txid,
  txidInternal,
  vsize,
  weight,
  wtxid,
  type AnchorOutput,
  type Transaction,
  type TxInput,
  type TxOutput,
} from './tx.js';
export { serializeTransaction, type TransactionFields } from './tx-serialize.js';
export {
  HEADER_BYTES,
  blockWork,
  checkProofOfWork,
  parseHeader,
  serializeHeader,
  targetFromBits,
  u256Hex,
  type BlockHeader,
  type HeaderFields,
} from './header.js';
export {
  MAX_BLOCK_TXS,
  MerkleBranchError,
  blockMerkleRoot,
  branchLength,
  merkleBranch,
  merkleBranchInternal,
  merkleNode,
  rootFromBranch,
  verifyBranch,
  type BranchOptions,
} from './merkle-branch.js';
export { parseTxOutProof, type TxOutProof } from './txoutproof.js';
export {
  MIN_ANCHOR_TX_NON_WITNESS_BYTES,
  verifyAnchorInclusion,
  type InclusionFailure,
  type InclusionInput,
  type InclusionResult,
} from './inclusion.js';
