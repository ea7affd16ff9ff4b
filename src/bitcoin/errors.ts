/**
 * Decoding errors of the Bitcoin byte formats. Every decoder in this folder throws only this
 * error for bad input (never a RangeError from Buffer, never a read past the end).
 *   TX_MALFORMED      a transaction serialization (tx.ts)
 *   HEADER_MALFORMED  an 80-byte block header (header.ts)
 *   PROOF_MALFORMED   a gettxoutproof CMerkleBlock (read by the tests' test/helpers/txoutproof.ts,
 *                     the second opinion on our merkle branches)
 *   HEX_MALFORMED     a hex string (bytes.ts)
 * `offset` is the byte offset in the input where decoding stopped; `expected`/`actual` say what
 * was wanted there and what was found (the same shape as verify's failure reports).
 */
export type BitcoinFormatCode = 'TX_MALFORMED' | 'HEADER_MALFORMED' | 'PROOF_MALFORMED' | 'HEX_MALFORMED';

export class BitcoinFormatError extends Error {
  constructor(
    readonly code: BitcoinFormatCode,
    readonly offset: number,
    readonly expected: string,
    readonly actual: string,
    message?: string,
  ) {
    super(message ?? `${code} at byte ${offset}: expected ${expected}, got ${actual}`);
    this.name = 'BitcoinFormatError';
  }
}
