/**
 * Stable reason codes. Tests and auditors' scripts match on these, never on message text, so
 * a code is never renamed or reused for another meaning.
 */
export type ReasonCode =
  | 'SEQ_GAP'              // a sequence number is missing
  | 'SEQ_OUT_OF_ORDER'     // a sequence number repeats or goes backwards
  | 'ENTRY_MAC_MISMATCH'   // recomputed MAC differs from the stored one
  | 'ENTRY_BAD_ENCODING'   // a stored field cannot be encoded (out of range, unknown flag)
  | 'ENTRY_BLOCK_MISMATCH' // entry filed under a block that does not cover its sequence number
  | 'FIELDS_MISMATCH'      // stored parsed fields differ from re-parsing raw
  | 'BLOCK_KEY_UNAVAILABLE'// no key to check a block (not disclosed, no auditor key)
  | 'BLOCK_ESCROW_INVALID';// the escrow cannot be opened with the auditor key

export interface Failure {
  code: ReasonCode;
  seq?: number;
  block?: number;
  receivedAtUs?: number;
  expected?: string;
  actual?: string;
  detail: string;
}
