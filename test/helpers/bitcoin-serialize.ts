// Writing Bitcoin bytes (compact sizes, transactions, block headers), for the tests only:
// immutalog never builds a transaction or a header (the node's wallet and miners do), it only
// reads them (src/bitcoin/). The tests use these to round-trip what the readers read and to make
// inputs that differ from a real one in one field.

import { ByteReader, MAX_COMPACT_SIZE, displayHexToInternal } from '../../src/bitcoin/bytes.js';
import { HEADER_BYTES } from '../../src/bitcoin/header.js';
import type { TxInput, TxOutput } from '../../src/bitcoin/tx.js';

/** Size in bytes of the compact-size encoding of n. */
export function compactSizeLength(n: number | bigint): number {
  const v = BigInt(n);
  if (v < 0n || v > 0xffffffffffffffffn) throw new RangeError(`compact size out of range: ${v}`);
  if (v < 0xfdn) return 1;
  if (v <= 0xffffn) return 3;
  if (v <= 0xffffffffn) return 5;
  return 9;
}

/** Compact-size ("varint" in Bitcoin Core's CompactSize sense) encoding, always minimal. */
export function writeCompactSize(n: number | bigint): Buffer {
  const v = BigInt(n);
  const len = compactSizeLength(v);
  const b = Buffer.alloc(len);
  if (len === 1) b[0] = Number(v);
  else if (len === 3) {
    b[0] = 0xfd;
    b.writeUInt16LE(Number(v), 1);
  } else if (len === 5) {
    b[0] = 0xfe;
    b.writeUInt32LE(Number(v), 1);
  } else {
    b[0] = 0xff;
    b.writeBigUInt64LE(v, 1);
  }
  return b;
}

/** The reading partner of writeCompactSize, through the decoders' own ByteReader: the value at `offset` and the offset after it; throws BitcoinFormatError('TX_MALFORMED'). */
export function readCompactSize(buf: Buffer, offset = 0, max: number = MAX_COMPACT_SIZE): { value: number; next: number } {
  const r = new ByteReader(buf, 'TX_MALFORMED', offset);
  const value = r.compactSize('compact size', max);
  return { value, next: r.offset };
}

export interface HeaderFields {
  version: number;
  /** Display hex. */
  prevBlock: string;
  /** Display hex. */
  merkleRoot: string;
  time: number;
  bits: number;
  nonce: number;
}

export function serializeHeader(h: HeaderFields): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  b.writeInt32LE(h.version, 0);
  displayHexToInternal(h.prevBlock).copy(b, 4);
  displayHexToInternal(h.merkleRoot).copy(b, 36);
  b.writeUInt32LE(h.time, 68);
  b.writeUInt32LE(h.bits, 72);
  b.writeUInt32LE(h.nonce, 76);
  return b;
}

/** What serialization needs of a transaction (a parsed Transaction has all of it). */
export interface TransactionFields {
  version: number;
  inputs: readonly Pick<TxInput, 'prevTxid' | 'vout' | 'scriptSig' | 'sequence' | 'witness'>[];
  outputs: readonly Pick<TxOutput, 'valueSats' | 'script'>[];
  locktime: number;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function i64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(n);
  return b;
}

function varBytes(b: Buffer): Buffer[] {
  return [writeCompactSize(b.length), b];
}

/**
 * Serialize as Core does (SerializeTransaction): the extended BIP 144 form when `witness` is
 * true and some input has a non-empty witness, the legacy form otherwise. With witness=false
 * this is the txid preimage.
 */
export function serializeTransaction(tx: TransactionFields, opts: { witness?: boolean } = {}): Buffer {
  const withWitness = (opts.witness ?? true) && tx.inputs.some((i) => i.witness.length > 0);
  const parts: Buffer[] = [u32(tx.version)];
  if (withWitness) parts.push(Buffer.from([0x00, 0x01]));
  parts.push(writeCompactSize(tx.inputs.length));
  for (const i of tx.inputs) parts.push(displayHexToInternal(i.prevTxid), u32(i.vout), ...varBytes(i.scriptSig), u32(i.sequence));
  parts.push(writeCompactSize(tx.outputs.length));
  for (const o of tx.outputs) parts.push(i64(o.valueSats), ...varBytes(o.script));
  if (withWitness) {
    for (const i of tx.inputs) {
      parts.push(writeCompactSize(i.witness.length));
      for (const item of i.witness) parts.push(...varBytes(item));
    }
  }
  parts.push(u32(tx.locktime));
  return Buffer.concat(parts);
}
