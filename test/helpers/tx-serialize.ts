// Transaction serialization, for the tests only: immutalog never builds a transaction (the
// node's wallet does), it only parses them (src/bitcoin/tx.ts). The tests use it to round-trip
// what the parser read and to make transactions that differ from a real one in one field.

import { displayHexToInternal, writeCompactSize } from '../../src/bitcoin/bytes.js';
import type { TxInput, TxOutput } from '../../src/bitcoin/tx.js';

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
