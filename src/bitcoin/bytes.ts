import { createHash } from 'node:crypto';
import { BitcoinFormatError, type BitcoinFormatCode } from './errors.js';

/**
 * Byte-level helpers shared by the Bitcoin decoders.
 *
 * Byte order: Bitcoin hashes (txid, block hash, merkle root) are 32 bytes in *internal* order
 * inside serializations and when hashed; RPC and explorers print them *reversed* ("display
 * order"). `displayHexToInternal`/`internalToDisplayHex` convert between the two.
 */

export const HASH_BYTES = 32;

/** Core's MAX_SIZE (serialize.h): the largest compact size a decoder accepts by default. */
export const MAX_COMPACT_SIZE = 0x02000000;

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/** SHA-256(SHA-256(data)), Bitcoin's "hash256". */
export function sha256d(data: Uint8Array): Buffer {
  return sha256(sha256(data));
}

/** A reversed copy (the input is not modified). */
export function reverseBytes(b: Uint8Array): Buffer {
  return Buffer.from(b).reverse();
}

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

/** Strict hex decoding (Buffer.from(hex, 'hex') silently stops at the first bad character). */
export function hexToBytes(hex: string): Buffer {
  if (!HEX_RE.test(hex)) {
    const bad = hex.search(/[^0-9a-fA-F]/);
    const at = bad >= 0 ? bad : hex.length;
    throw new BitcoinFormatError('HEX_MALFORMED', Math.floor(at / 2), 'an even number of hex digits', bad >= 0 ? JSON.stringify(hex[bad]) : `${hex.length} digits`);
  }
  return Buffer.from(hex, 'hex');
}

/** A 32-byte hash in display hex (as RPC prints it) to internal byte order. */
export function displayHexToInternal(hex: string): Buffer {
  const b = hexToBytes(hex);
  if (b.length !== HASH_BYTES) throw new BitcoinFormatError('HEX_MALFORMED', 0, `${HASH_BYTES} bytes (64 hex digits)`, `${b.length} bytes`);
  return b.reverse();
}

/** A 32-byte hash in internal byte order to display hex. */
export function internalToDisplayHex(hash: Uint8Array): string {
  if (hash.length !== HASH_BYTES) throw new RangeError(`expected a ${HASH_BYTES}-byte hash, got ${hash.length} bytes`);
  return reverseBytes(hash).toString('hex');
}

/**
 * A bounds-checked cursor over a buffer. Every read checks the remaining length first and throws
 * BitcoinFormatError(code) instead of reading past the end.
 */
export class ByteReader {
  offset: number;

  constructor(
    readonly buf: Buffer,
    readonly code: BitcoinFormatCode,
    offset = 0,
  ) {
    this.offset = offset;
  }

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  fail(expected: string, actual: string, at = this.offset): never {
    throw new BitcoinFormatError(this.code, at, expected, actual);
  }

  need(n: number, what: string): void {
    if (n > this.remaining) this.fail(`${n} bytes of ${what}`, `${this.remaining} bytes left (truncated)`);
  }

  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.offset++]!;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32LE(this.offset);
    this.offset += 4;
    return v;
  }

  i32(what: string): number {
    this.need(4, what);
    const v = this.buf.readInt32LE(this.offset);
    this.offset += 4;
    return v;
  }

  u64(what: string): bigint {
    this.need(8, what);
    const v = this.buf.readBigUInt64LE(this.offset);
    this.offset += 8;
    return v;
  }

  i64(what: string): bigint {
    this.need(8, what);
    const v = this.buf.readBigInt64LE(this.offset);
    this.offset += 8;
    return v;
  }

  /**
   * A compact size, as Core's ReadCompactSize(range_check=true): the shortest encoding only
   * ("non-canonical ReadCompactSize()") and at most `max` (MAX_SIZE by default).
   */
  compactSize(what: string, max: number = MAX_COMPACT_SIZE): number {
    const start = this.offset;
    const first = this.u8(what);
    let v: bigint;
    let min: bigint;
    if (first < 0xfd) return checkMax(this, first, max, what, start);
    if (first === 0xfd) {
      this.need(2, what);
      v = BigInt(this.buf.readUInt16LE(this.offset));
      this.offset += 2;
      min = 0xfdn;
    } else if (first === 0xfe) {
      this.need(4, what);
      v = BigInt(this.buf.readUInt32LE(this.offset));
      this.offset += 4;
      min = 0x10000n;
    } else {
      v = this.u64(what);
      min = 0x100000000n;
    }
    if (v < min) this.fail(`a minimally encoded ${what}`, `${v} in ${this.offset - start} bytes`, start);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} at most ${max}`, String(v), start);
    return checkMax(this, Number(v), max, what, start);
  }
}

function checkMax(r: ByteReader, v: number, max: number, what: string, at: number): number {
  if (v > max) r.fail(`${what} at most ${max}`, String(v), at);
  return v;
}
