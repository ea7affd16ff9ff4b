import { ByteReader, internalToDisplayHex, sha256d } from './bytes.js';

/**
 * The 80-byte block header (primitives/block.h):
 *   0  version    i32 LE
 *   4  prev block 32, internal order
 *   36 merkle root 32, internal order (what the tx branch must reach)
 *   68 time       u32 LE
 *   72 bits       u32 LE (compact target)
 *   76 nonce      u32 LE
 * The block hash is SHA-256d of these 80 bytes, printed reversed.
 */
export const HEADER_BYTES = 80;

export interface BlockHeader {
  version: number;
  /** Display hex, as RPC's previousblockhash. */
  prevBlock: string;
  prevBlockInternal: Buffer;
  /** Display hex, as RPC's merkleroot. */
  merkleRoot: string;
  merkleRootInternal: Buffer;
  time: number;
  bits: number;
  /** bits as RPC prints it ("207fffff"). */
  bitsHex: string;
  nonce: number;
  /** Block hash, display hex. */
  hash: string;
  hashInternal: Buffer;
  raw: Buffer;
}

/** Throws BitcoinFormatError('HEADER_MALFORMED') unless raw is exactly 80 bytes. */
export function parseHeader(raw: Buffer): BlockHeader {
  if (!Buffer.isBuffer(raw)) throw new TypeError('parseHeader: expected a Buffer');
  const r = new ByteReader(raw, 'HEADER_MALFORMED');
  if (raw.length !== HEADER_BYTES) r.fail(`${HEADER_BYTES} bytes`, `${raw.length} bytes`, Math.min(raw.length, HEADER_BYTES));
  const version = r.i32('version');
  const prevBlockInternal = Buffer.from(r.bytes(32, 'prev block hash'));
  const merkleRootInternal = Buffer.from(r.bytes(32, 'merkle root'));
  const time = r.u32('time');
  const bits = r.u32('bits');
  const nonce = r.u32('nonce');
  const hashInternal = sha256d(raw);
  return {
    version,
    prevBlock: internalToDisplayHex(prevBlockInternal),
    prevBlockInternal,
    merkleRoot: internalToDisplayHex(merkleRootInternal),
    merkleRootInternal,
    time,
    bits,
    bitsHex: bits.toString(16).padStart(8, '0'),
    nonce,
    hash: internalToDisplayHex(hashInternal),
    hashInternal,
    raw: Buffer.from(raw),
  };
}

const U256_MASK = (1n << 256n) - 1n;

/** The target a compact `bits` encodes, with Core's negative/overflow flags (arith_uint256::SetCompact). */
export function targetFromBits(bits: number): { target: bigint; negative: boolean; overflow: boolean } {
  const size = bits >>> 24;
  let word = bits & 0x007fffff;
  let target: bigint;
  if (size <= 3) {
    word >>>= 8 * (3 - size);
    target = BigInt(word);
  } else {
    target = (BigInt(word) << BigInt(8 * (size - 3))) & U256_MASK;
  }
  const negative = word !== 0 && (bits & 0x00800000) !== 0;
  const overflow = word !== 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32));
  return { target, negative, overflow };
}

/** A 256-bit number as 64 hex digits (as RPC prints target and chainwork). */
export function u256Hex(n: bigint): string {
  return n.toString(16).padStart(64, '0');
}

/**
 * Core's CheckProofOfWork: the target from bits is valid (not negative, zero or overflowing,
 * and at most `powLimit` when given) and the hash, read as a 256-bit little-endian number, is
 * at most the target. Only the work the header claims is checked; whether bits is the right
 * difficulty for its height needs the chain (and regtest's 207fffff makes any nonce likely pass).
 */
export function checkProofOfWork(header: Pick<BlockHeader, 'bits' | 'hash'>, powLimit?: bigint): boolean {
  const { target, negative, overflow } = targetFromBits(header.bits);
  if (negative || overflow || target === 0n) return false;
  if (powLimit !== undefined && target > powLimit) return false;
  return BigInt(`0x${header.hash}`) <= target;
}

/** Expected work of one block with these bits (Core's GetBlockProof: 2^256 / (target + 1)); 0 if bits is invalid. */
export function blockWork(bits: number): bigint {
  const { target, negative, overflow } = targetFromBits(bits);
  if (negative || overflow || target === 0n) return 0n;
  return (1n << 256n) / (target + 1n);
}
