import { ByteReader, HASH_BYTES, internalToDisplayHex, reverseBytes, sha256d } from './bytes.js';
import { BitcoinFormatError } from './errors.js';

/**
 * Bitcoin transaction decoding (Core's UnserializeTransaction, primitives/transaction.h).
 *
 *   legacy:   version u32 | vin | vout | locktime u32
 *   extended: version u32 | 0x00 marker | flags u8 (0x01) | vin | vout | witness per input | locktime u32   (BIP 144)
 *   vin  = compact n | n × (prev txid 32 internal | vout u32 | compact len | scriptSig | sequence u32)
 *   vout = compact n | n × (value i64 sats | compact len | scriptPubKey)
 *   witness per input = compact items | items × (compact len | bytes)
 *
 * The txid is SHA-256d of the legacy (non-witness) serialization, the wtxid SHA-256d of the full
 * one; both are printed reversed. RPC hex (getrawtransaction, signrawtransactionwithwallet)
 * carries the witness, so the txid must be computed from the stripped bytes.
 */

export interface TxInput {
  /** The spent output's txid, display hex (as RPC prints it). */
  prevTxid: string;
  vout: number;
  scriptSig: Buffer;
  sequence: number;
  /** The input's witness stack (empty for a legacy input). */
  witness: Buffer[];
}

export interface TxOutput {
  valueSats: bigint;
  script: Buffer;
  /** Offset of the script's first byte in `nonWitnessBytes` (the prefix/suffix split for an OTS proof). */
  scriptOffset: number;
}

export interface Transaction {
  version: number;
  inputs: TxInput[];
  outputs: TxOutput[];
  locktime: number;
  /** True when the input used the BIP 144 extended (witness) serialization. */
  segwit: boolean;
  /** version | vin | vout | locktime: the bytes the txid hashes. */
  nonWitnessBytes: Buffer;
  /** Length of the whole input (Core's `size`). */
  size: number;
  /** BIP 141 weight: 3 × stripped size + total size. */
  weight: number;
  /** Virtual size: weight / 4 rounded up. */
  vsize: number;
}

const TXIN_MIN_BYTES = 32 + 4 + 1 + 4;
const TXOUT_MIN_BYTES = 8 + 1;

function readInputs(r: ByteReader, count: number): TxInput[] {
  const inputs: TxInput[] = [];
  for (let i = 0; i < count; i++) {
    const prev = r.bytes(HASH_BYTES, `input ${i} prevout txid`);
    const vout = r.u32(`input ${i} prevout index`);
    const len = r.compactSize(`input ${i} scriptSig length`);
    const scriptSig = Buffer.from(r.bytes(len, `input ${i} scriptSig`));
    const sequence = r.u32(`input ${i} sequence`);
    inputs.push({ prevTxid: reverseBytes(prev).toString('hex'), vout, scriptSig, sequence, witness: [] });
  }
  return inputs;
}

function readCount(r: ByteReader, what: string, minItemBytes: number): number {
  const at = r.offset;
  const n = r.compactSize(`${what} count`);
  // Each item needs at least minItemBytes more: refuse absurd counts before allocating anything.
  if (n * minItemBytes > r.remaining) r.fail(`at most ${Math.floor(r.remaining / minItemBytes)} ${what} in the bytes left`, `${n}`, at);
  return n;
}

/** `base` maps an offset in the input to one in the non-witness bytes (minus the marker and flags). */
function readOutputs(r: ByteReader, count: number, base: number): TxOutput[] {
  const outputs: TxOutput[] = [];
  for (let i = 0; i < count; i++) {
    const valueSats = r.i64(`output ${i} value`);
    const len = r.compactSize(`output ${i} script length`);
    const scriptOffset = r.offset - base;
    const script = Buffer.from(r.bytes(len, `output ${i} script`));
    outputs.push({ valueSats, script, scriptOffset });
  }
  return outputs;
}

/** One decoding attempt, legacy or extended; throws TX_MALFORMED unless it consumes all of raw. */
function decode(raw: Buffer, extended: boolean): Transaction {
  const r = new ByteReader(raw, 'TX_MALFORMED');
  const version = r.u32('version');
  let flags = 0;
  let ioStart = r.offset;
  let nIn = readCount(r, 'inputs', TXIN_MIN_BYTES);
  if (nIn === 0 && extended) {
    // The 0x00 marker reads as an empty vin; the flags byte follows. Flags 0 is rejected here
    // (Core would read a tx with no inputs and no outputs): the legacy attempt reads it the same.
    const flagsAt = r.offset;
    flags = r.u8('segwit flags');
    if (flags === 0) r.fail('segwit flags 0x01 after the 0x00 marker', '0x00', flagsAt);
    ioStart = r.offset;
    nIn = readCount(r, 'inputs', TXIN_MIN_BYTES);
  }
  const inputs = readInputs(r, nIn);
  const nOut = readCount(r, 'outputs', TXOUT_MIN_BYTES);
  const outputs = readOutputs(r, nOut, ioStart - 4);
  const ioEnd = r.offset;
  if (flags & 1) {
    let any = false;
    for (let i = 0; i < inputs.length; i++) {
      const nItems = readCount(r, `input ${i} witness items`, 1);
      const stack: Buffer[] = [];
      for (let k = 0; k < nItems; k++) {
        const len = r.compactSize(`input ${i} witness item ${k} length`);
        stack.push(Buffer.from(r.bytes(len, `input ${i} witness item ${k}`)));
      }
      if (stack.length > 0) any = true;
      inputs[i]!.witness = stack;
    }
    // BIP 144 / Core: "Superfluous witness record".
    if (!any) r.fail('at least one non-empty witness after the segwit marker', 'all witnesses empty');
  }
  // Core: "Unknown transaction optional data".
  if ((flags & ~1) !== 0) r.fail('segwit flags 0x01', `0x${flags.toString(16).padStart(2, '0')}`, 5);
  const locktime = r.u32('locktime');
  if (r.remaining !== 0) r.fail('end of transaction', `${r.remaining} trailing bytes`);
  const segwit = flags !== 0;
  const nonWitnessBytes = segwit ? Buffer.concat([raw.subarray(0, 4), raw.subarray(ioStart, ioEnd), raw.subarray(raw.length - 4)]) : Buffer.from(raw);
  const weight = nonWitnessBytes.length * 3 + raw.length;
  return { version, inputs, outputs, locktime, segwit, nonWitnessBytes, size: raw.length, weight, vsize: Math.ceil(weight / 4) };
}

/**
 * Decode a raw transaction, as Core's DecodeHexTx does: try the extended (witness) and the
 * legacy serialization; only attempts that consume every byte count; if both succeed the
 * extended one wins. The two only differ when byte 4 is 0x00: a segwit marker, or a legacy tx
 * with no inputs such as createrawtransaction's output (`02000000 00 01 …`, 0 inputs, 1 output),
 * which the extended reading rejects (its witness section would be empty). Core's further
 * tie-break when both readings succeed (prefer the one whose scripts look sane) is not done:
 * the extended reading always wins. A zero-input result can never be a mined tx.
 * Throws BitcoinFormatError('TX_MALFORMED') and nothing else for bad input (the error of the
 * extended attempt when both fail).
 */
export function parseTransaction(raw: Buffer): Transaction {
  if (!Buffer.isBuffer(raw)) throw new TypeError('parseTransaction: expected a Buffer');
  let extendedError: BitcoinFormatError | undefined;
  try {
    return decode(raw, true);
  } catch (e) {
    if (!(e instanceof BitcoinFormatError)) throw e;
    extendedError = e;
  }
  if (raw.length > 4 && raw[4] === 0x00) {
    try {
      return decode(raw, false);
    } catch (e) {
      if (!(e instanceof BitcoinFormatError)) throw e;
    }
  }
  throw extendedError;
}

function asTx(t: Buffer | Transaction): Transaction {
  return Buffer.isBuffer(t) ? parseTransaction(t) : t;
}

/** txid in internal byte order (what a block's merkle tree hashes). */
export function txidInternal(raw: Buffer | Transaction): Buffer {
  return sha256d(asTx(raw).nonWitnessBytes);
}

/** txid in display hex: SHA-256d of the non-witness serialization, reversed. */
export function txid(raw: Buffer | Transaction): string {
  return internalToDisplayHex(txidInternal(raw));
}

/** wtxid (RPC's `hash`) in display hex: SHA-256d of the whole serialization; equals the txid without witness. */
export function wtxid(raw: Buffer): string {
  parseTransaction(raw);
  return internalToDisplayHex(sha256d(raw));
}

/** BIP 141 weight. */
export function weight(raw: Buffer | Transaction): number {
  return asTx(raw).weight;
}

/** Virtual size: weight / 4 rounded up (Core's GetVirtualTransactionSize with no sigop adjustment). */
export function vsize(raw: Buffer | Transaction): number {
  return asTx(raw).vsize;
}

// ---------------------------------------------------------------------------------------------
// The anchor output
// ---------------------------------------------------------------------------------------------

const OP_RETURN = 0x6a;
const PUSH_32 = 0x20;
export const ANCHOR_SCRIPT_BYTES = 2 + HASH_BYTES;

export class AnchorOutputError extends Error {
  constructor(
    /** ANCHOR_AMBIGUOUS: more than one OP_RETURN output. ANCHOR_MALFORMED: the one OP_RETURN output is not exactly `6a20` + 32 bytes. */
    readonly code: 'ANCHOR_AMBIGUOUS' | 'ANCHOR_MALFORMED',
    readonly vouts: number[],
    message: string,
  ) {
    super(message);
    this.name = 'AnchorOutputError';
  }
}

export interface AnchorOutput {
  /** The 32 committed bytes (the batch root), as pushed. */
  root: Buffer;
  vout: number;
  /** Offset of `root` in the tx's non-witness bytes. */
  rootOffset: number;
}

/**
 * Where the anchor's root is: the single OP_RETURN output, which must be exactly
 * `6a 20 <32 bytes>` (34 bytes). Returns undefined when the tx has no OP_RETURN output; throws
 * AnchorOutputError ANCHOR_AMBIGUOUS when it has more than one, and ANCHOR_MALFORMED when the
 * one it has is anything else (another push length, PUSHDATA1, extra opcodes, bare OP_RETURN).
 * The position is not fixed: bumpfee moved the recorded anchor's OP_RETURN from vout 0 to 1.
 */
export function locateAnchorOutput(tx: Transaction): AnchorOutput | undefined {
  const opReturns = tx.outputs.map((o, i) => ({ o, i })).filter(({ o }) => o.script.length > 0 && o.script[0] === OP_RETURN);
  if (opReturns.length === 0) return undefined;
  if (opReturns.length > 1) {
    const vouts = opReturns.map(({ i }) => i);
    throw new AnchorOutputError('ANCHOR_AMBIGUOUS', vouts, `expected one OP_RETURN output, found ${vouts.length} (vouts ${vouts.join(', ')})`);
  }
  const { o, i } = opReturns[0]!;
  if (o.script.length !== ANCHOR_SCRIPT_BYTES || o.script[1] !== PUSH_32) {
    const shown = o.script.subarray(0, 40).toString('hex') + (o.script.length > 40 ? '…' : '');
    throw new AnchorOutputError('ANCHOR_MALFORMED', [i], `vout ${i}: expected OP_RETURN with one 32-byte push (6a20 + 32 bytes), got script ${shown} (${o.script.length} bytes)`);
  }
  return { root: Buffer.from(o.script.subarray(2)), vout: i, rootOffset: o.scriptOffset + 2 };
}

/** The anchor's 32-byte root (a copy), or undefined; throws as locateAnchorOutput. */
export function findAnchorOutput(tx: Transaction): Buffer | undefined {
  return locateAnchorOutput(tx)?.root;
}
