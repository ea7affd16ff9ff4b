/**
 * Stable reason codes. Tests and auditors' scripts match on these, never on message text, so
 * a code is never renamed or reused for another meaning.
 */
export const REASON_CODES = {
  SEQ_GAP: 'a sequence number is missing',
  SEQ_OUT_OF_ORDER: 'a sequence number repeats or goes backwards',
  ENTRY_MAC_MISMATCH: 'an entry MAC does not match its contents and predecessor',
  ENTRY_BAD_ENCODING: 'a stored entry field is out of range (cannot be encoded)',
  ENTRY_BLOCK_MISMATCH: 'an entry is filed under a block that does not cover its sequence number',
  ENTRY_TIME_OUT_OF_BLOCK: "an entry's receive time lies outside the signed times of the checkpoints around its block",
  FIELDS_MISMATCH: 'stored parsed fields differ from re-parsing the raw bytes',
  BLOCK_COUNT_MISMATCH: 'a block holds more or fewer entries than its checkpoint says',
  BLOCK_HEAD_MISMATCH: "a block's last MAC differs from its checkpoint's chain head",
  BLOCK_ROOT_MISMATCH: "a block's entries do not hash to its checkpoint's Merkle root",
  BLOCK_ESCROW_MISMATCH: "a block's stored key escrow differs from the one its previous checkpoint signed",
  BLOCK_ESCROW_INVALID: 'the escrowed key of the open block cannot be opened with the auditor key',
  CHECKPOINT_MALFORMED: 'a checkpoint cannot be decoded',
  CHECKPOINT_MISSING: 'a checkpoint index is missing',
  CHECKPOINT_ROW_MISMATCH: "a checkpoint's row (index, time) differs from its signed bytes",
  CHECKPOINT_FINGERPRINT_MISMATCH: 'a checkpoint names another log',
  CHECKPOINT_PREVIOUS_MISMATCH: "a checkpoint's previous-hash does not match the checkpoint before it",
  CHECKPOINT_SIGNATURE_INVALID: 'a checkpoint is not signed by the key its predecessor certified',
  CHECKPOINT_RANGE_MISMATCH: "a checkpoint's sequence range does not continue the previous one",
  CHECKPOINT_TIME_BACKWARDS: 'a checkpoint is dated before the checkpoint it follows',
  RANGE_NOT_COVERED: 'a bundle lacks the entries of a block that the requested range needs',
  CHECKPOINT_STALE: 'the newest checkpoint is older than the heartbeat allows (tail cut off, rollback, or receiver down)',
  ANCHOR_MISSING: "a checkpoint's anchor proof names an anchor that is not in the database",
  ANCHOR_PROOF_INVALID: "a checkpoint's inclusion proof does not lead to its anchor's root",
  ANCHOR_TX_INVALID: "an anchor's stored transaction is unparsable, is not the one its txid names, or does not carry the root",
  ANCHOR_INCLUSION_INVALID: "an anchor's transaction is not in the block it claims (branch, merkle root, header or proof of work)",
  ANCHOR_BLOCK_NOT_IN_CHAIN: "an anchor's block is not in the node's best chain",
  ANCHOR_CHAIN_AHEAD: "an anchor's change is spent by an anchor the database does not show (rolled back or truncated; needs --bitcoin-rpc)",
  GENESIS_INVALID: "the log's genesis statement (creation time, block 0's escrowed key) is missing or not signed by the identity key",
  IDENTITY_MISMATCH: 'the log identity differs from the pinned fingerprint',
  STATE_MISMATCH: 'a checkpoint this auditor verified before is gone or changed (rollback or rewrite)',
} as const;

export type ReasonCode = keyof typeof REASON_CODES;

export interface Failure {
  code: ReasonCode;
  seq?: number;
  block?: number;
  checkpoint?: number;
  receivedAtUs?: number;
  expected?: string;
  actual?: string;
  detail: string;
}
