import { ByteReader, HASH_BYTES, internalToDisplayHex } from '../../src/bitcoin/bytes.js';
import { BitcoinFormatError } from '../../src/bitcoin/errors.js';
import { HEADER_BYTES, parseHeader, type BlockHeader } from '../../src/bitcoin/header.js';
import { MAX_BLOCK_TXS, merkleNode } from '../../src/bitcoin/merkle-branch.js';

/**
 * gettxoutproof's CMerkleBlock (merkleblock.h, BIP 37), read offline:
 *   header 80 | nTransactions u32 | compact n | n × hash 32 (internal) | compact m | m flag bytes (bits LSB first)
 * The partial tree is walked depth-first exactly as Core's CPartialMerkleTree::ExtractMatches,
 * with its checks: tx count in 1..MAX_BLOCK_TXS, no more hashes than txs, every hash and every
 * flag byte used, and a right child equal to its left sibling refused (CVE-2012-2459).
 * For the tests only: a second, Core-made proof that our own branch (src/bitcoin/merkle-branch.ts,
 * which is what the anchorer stores and verify checks) must agree with. immutalog itself neither
 * asks for nor stores gettxoutproof. verifytxoutproof on a node does the same walk plus the check
 * that the block is in its active chain.
 */

export interface TxOutProof {
  header: BlockHeader;
  txCount: number;
  /** The matched txids (those whose leaf flag is set), with their index in the block. */
  matches: { txid: string; txidInternal: Buffer; index: number }[];
  /** The root the partial tree hashes to (internal order). */
  merkleRoot: Buffer;
  /** merkleRoot equals the header's: the matched txids are in that block's tree. */
  valid: boolean;
}

/** Throws BitcoinFormatError('PROOF_MALFORMED') for a bad serialization or a bad partial tree. */
export function parseTxOutProof(raw: Buffer): TxOutProof {
  const r = new ByteReader(raw, 'PROOF_MALFORMED');
  const header = parseHeader(Buffer.from(r.bytes(HEADER_BYTES, 'block header')));
  const countAt = r.offset;
  const txCount = r.u32('tx count');
  if (txCount === 0 || txCount > MAX_BLOCK_TXS) r.fail(`a tx count in 1..${MAX_BLOCK_TXS}`, String(txCount), countAt);
  const hashesAt = r.offset;
  const nHashes = r.compactSize('hash count');
  if (nHashes > txCount) r.fail(`at most ${txCount} hashes (one per tx)`, String(nHashes), hashesAt);
  const hashes: Buffer[] = [];
  for (let i = 0; i < nHashes; i++) hashes.push(Buffer.from(r.bytes(HASH_BYTES, `hash ${i}`)));
  const flagsAt = r.offset;
  const nFlagBytes = r.compactSize('flag byte count');
  const flagBytes = r.bytes(nFlagBytes, 'flag bytes');
  if (r.remaining !== 0) r.fail('end of proof', `${r.remaining} trailing bytes`);
  const nBits = nFlagBytes * 8;
  if (nBits < nHashes) r.fail(`at least ${nHashes} flag bits`, String(nBits), flagsAt);

  const width = (height: number): number => Math.floor((txCount + 2 ** height - 1) / 2 ** height);
  let height = 0;
  while (width(height) > 1) height++;
  let bitsUsed = 0;
  let hashesUsed = 0;
  const matches: TxOutProof['matches'] = [];
  const bad = (expected: string, actual: string): never => {
    throw new BitcoinFormatError('PROOF_MALFORMED', flagsAt, expected, actual, `gettxoutproof partial tree: expected ${expected}, got ${actual}`);
  };
  const walk = (h: number, pos: number): Buffer => {
    if (bitsUsed >= nBits) bad('another flag bit', 'none left');
    const parentOfMatch = ((flagBytes[bitsUsed >> 3]! >> (bitsUsed & 7)) & 1) === 1;
    bitsUsed++;
    if (h === 0 || !parentOfMatch) {
      if (hashesUsed >= nHashes) bad('another hash', 'none left');
      const hash = hashes[hashesUsed++]!;
      if (h === 0 && parentOfMatch) matches.push({ txid: internalToDisplayHex(hash), txidInternal: hash, index: pos });
      return hash;
    }
    const left = walk(h - 1, pos * 2);
    let right = left;
    if (pos * 2 + 1 < width(h - 1)) {
      right = walk(h - 1, pos * 2 + 1);
      if (right.equals(left)) bad('a right child different from its left sibling', 'the same hash (CVE-2012-2459)');
    }
    return merkleNode(left, right);
  };
  const merkleRoot = walk(height, 0);
  if (Math.ceil(bitsUsed / 8) !== nFlagBytes) bad(`all ${nFlagBytes} flag bytes used`, `${Math.ceil(bitsUsed / 8)} used`);
  if (hashesUsed !== nHashes) bad(`all ${nHashes} hashes used`, `${hashesUsed} used`);
  return { header, txCount, matches, merkleRoot, valid: merkleRoot.equals(header.merkleRootInternal) };
}
