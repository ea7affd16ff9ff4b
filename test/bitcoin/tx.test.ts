// src/bitcoin/tx.ts against the real anchor transactions recorded from Bitcoin Core v30.99
// (test/vectors/bitcoin/regtest-anchor.json, extracted from test/vectors/bitcoind-rpc by extract.py),
// plus property tests of the decoder on arbitrary and mutated bytes.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sha256d } from '../../src/bitcoin/bytes.js';
import { BitcoinFormatError } from '../../src/bitcoin/errors.js';
import { AnchorOutputError, findAnchorOutput, locateAnchorOutput, parseTransaction, txid, txidInternal, vsize, weight, wtxid, type Transaction } from '../../src/bitcoin/tx.js';
import { serializeTransaction, type TransactionFields } from '../helpers/bitcoin-serialize.js';
import { thrownAs } from '../helpers/throws.js';

interface Decoded {
  txid: string;
  wtxid: string;
  version: number;
  size: number;
  vsize: number;
  weight: number;
  locktime: number;
  vin: { txid: string; vout: number; script_sig_hex: string; witness_hex: string[]; sequence: number }[];
  vout: { n: number; value_sats: string; script_hex: string; type: string }[];
}
interface Recorded {
  anchor_data_hex: string;
  unsigned_tx_hex: string;
  funded_tx: { hex: string; changepos: number };
  signed_tx: { hex: string; decoded: Decoded; mempool_accept: { txid: string; wtxid: string; vsize: number } };
  bumpfee: { replaced_txid: string; txid: string };
  confirmed_tx: { hex: string; decoded: Decoded };
}

const REC = JSON.parse(readFileSync(fileURLToPath(new URL('../vectors/bitcoin/regtest-anchor.json', import.meta.url)), 'utf8')) as Recorded;
const hex = (h: string): Buffer => Buffer.from(h, 'hex');
const RUNS = { numRuns: 3000 };

const formatError = (f: () => unknown): BitcoinFormatError => thrownAs(BitcoinFormatError, f);

function expectMatchesDecoded(tx: Transaction, raw: Buffer, d: Decoded): void {
  expect(txid(raw)).toBe(d.txid);
  expect(wtxid(raw)).toBe(d.wtxid);
  expect(tx.size).toBe(d.size);
  expect(vsize(raw)).toBe(d.vsize);
  expect(tx.vsize).toBe(d.vsize);
  expect(weight(raw)).toBe(d.weight);
  expect(tx.version).toBe(d.version);
  expect(tx.locktime).toBe(d.locktime);
  expect(tx.inputs.map((i) => ({ txid: i.prevTxid, vout: i.vout, script_sig_hex: i.scriptSig.toString('hex'), witness_hex: i.witness.map((w) => w.toString('hex')), sequence: i.sequence }))).toEqual(d.vin);
  expect(tx.outputs.map((o, n) => ({ n, value_sats: o.valueSats.toString(), script_hex: o.script.toString('hex') }))).toEqual(d.vout.map(({ n, value_sats, script_hex }) => ({ n, value_sats, script_hex })));
}

describe('the recorded anchor transactions (Bitcoin Core v30.99 regtest)', () => {
  const data = hex(REC.anchor_data_hex);

  it('signed tx (with witness): txid, wtxid, size, vsize, weight and every field equal decoderawtransaction', () => {
    const raw = hex(REC.signed_tx.hex);
    const tx = parseTransaction(raw);
    expect(tx.segwit).toBe(true);
    expectMatchesDecoded(tx, raw, REC.signed_tx.decoded);
    expect(txid(raw)).toBe(REC.signed_tx.mempool_accept.txid);
    expect(wtxid(raw)).toBe(REC.signed_tx.mempool_accept.wtxid);
    expect(vsize(raw)).toBe(REC.signed_tx.mempool_accept.vsize);
  });

  it('confirmed tx (the bumpfee replacement, from getrawtransaction with its block): same checks', () => {
    const raw = hex(REC.confirmed_tx.hex);
    const tx = parseTransaction(raw);
    expect(tx.segwit).toBe(true);
    expectMatchesDecoded(tx, raw, REC.confirmed_tx.decoded);
    expect(txid(raw)).toBe(REC.bumpfee.txid);
  });

  it('the txid is the hash of the stripped bytes: the unsigned funded tx has the signed tx\'s txid', () => {
    const funded = hex(REC.funded_tx.hex);
    const signed = parseTransaction(hex(REC.signed_tx.hex));
    const ftx = parseTransaction(funded);
    expect(ftx.segwit).toBe(false);
    expect(ftx.nonWitnessBytes.equals(funded)).toBe(true);
    expect(signed.nonWitnessBytes.equals(funded)).toBe(true);
    expect(txid(funded)).toBe(REC.signed_tx.decoded.txid);
    expect(txid(funded)).toBe(REC.bumpfee.replaced_txid);
    // Without a witness, wtxid == txid and weight == 4 × size.
    expect(wtxid(funded)).toBe(txid(funded));
    expect(ftx.weight).toBe(4 * funded.length);
    expect(txidInternal(signed).equals(sha256d(funded))).toBe(true);
  });

  it("createrawtransaction's output (0 inputs, 02000000 00 01 …) decodes as a legacy tx, not as a segwit marker", () => {
    const raw = hex(REC.unsigned_tx_hex);
    expect(raw[4]).toBe(0x00);
    expect(raw[5]).toBe(0x01);
    const tx = parseTransaction(raw);
    expect(tx.segwit).toBe(false);
    expect(tx.inputs).toEqual([]);
    expect(tx.outputs).toHaveLength(1);
    expect(tx.outputs[0]!.valueSats).toBe(0n);
    expect(findAnchorOutput(tx)!.equals(data)).toBe(true);
    expect(serializeTransaction(tx).equals(raw)).toBe(true);
  });

  it('findAnchorOutput returns the 32 bytes createrawtransaction was given, wherever the OP_RETURN sits', () => {
    const cases: [string, number][] = [
      [REC.unsigned_tx_hex, 0],
      [REC.funded_tx.hex, 0],
      [REC.signed_tx.hex, 0],
      // bumpfee rebuilt the tx with the change first: the OP_RETURN moved to vout 1.
      [REC.confirmed_tx.hex, 1],
    ];
    expect(REC.funded_tx.changepos).toBe(1);
    for (const [h, vout] of cases) {
      const tx = parseTransaction(hex(h));
      const root = findAnchorOutput(tx);
      expect(root!.equals(data)).toBe(true);
      const loc = locateAnchorOutput(tx)!;
      expect(loc.vout).toBe(vout);
      expect(tx.outputs[vout]!.script.toString('hex')).toBe(`6a20${REC.anchor_data_hex}`);
      // rootOffset splits the txid preimage into the prefix/suffix an OTS proof uses.
      const pre = tx.nonWitnessBytes.subarray(0, loc.rootOffset);
      const post = tx.nonWitnessBytes.subarray(loc.rootOffset + 32);
      expect(sha256d(Buffer.concat([pre, data, post])).equals(txidInternal(tx))).toBe(true);
    }
  });

  it('re-serializes byte for byte, with and without witness', () => {
    for (const h of [REC.unsigned_tx_hex, REC.funded_tx.hex, REC.signed_tx.hex, REC.confirmed_tx.hex]) {
      const raw = hex(h);
      const tx = parseTransaction(raw);
      expect(serializeTransaction(tx).equals(raw)).toBe(true);
      expect(serializeTransaction(tx, { witness: false }).equals(tx.nonWitnessBytes)).toBe(true);
    }
  });

  it('every truncation of the signed tx is TX_MALFORMED at an offset inside the input, or a legacy tx with no inputs', () => {
    const raw = hex(REC.signed_tx.hex);
    let ambiguous = 0;
    for (let n = 0; n < raw.length; n++) {
      const cut = raw.subarray(0, n);
      let e: BitcoinFormatError;
      try {
        e = formatError(() => parseTransaction(cut));
      } catch {
        // The 00 01 of a segwit marker also reads as "no inputs, one output"; when the bytes
        // after it happen to form that output and a locktime, Core's DecodeHexTx accepts the
        // legacy reading too. No mined tx has zero inputs (verifyAnchorInclusion refuses it).
        const tx = parseTransaction(cut);
        expect(tx.segwit).toBe(false);
        expect(tx.inputs).toEqual([]);
        expect(serializeTransaction(tx).equals(cut)).toBe(true);
        ambiguous++;
        continue;
      }
      expect(e.code).toBe('TX_MALFORMED');
      expect(e.offset).toBeGreaterThanOrEqual(0);
      expect(e.offset).toBeLessThanOrEqual(n);
      expect(e.expected.length).toBeGreaterThan(0);
    }
    expect(ambiguous).toBeLessThanOrEqual(2);
  });

  it('trailing bytes are refused', () => {
    for (const h of [REC.funded_tx.hex, REC.signed_tx.hex]) {
      const e = formatError(() => parseTransaction(Buffer.concat([hex(h), Buffer.from([0])])));
      expect(e.code).toBe('TX_MALFORMED');
      expect(e.actual).toMatch(/1 trailing byte/);
    }
  });

  it('a segwit tx whose witnesses are all empty is refused ("Superfluous witness record")', () => {
    const tx = parseTransaction(hex(REC.signed_tx.hex));
    const body = serializeTransaction(tx, { witness: false });
    // version | 00 01 | vin | vout | one empty witness stack | locktime
    const forged = Buffer.concat([body.subarray(0, 4), Buffer.from([0x00, 0x01]), body.subarray(4, body.length - 4), Buffer.from([0x00]), body.subarray(body.length - 4)]);
    const e = formatError(() => parseTransaction(forged));
    expect(e.code).toBe('TX_MALFORMED');
    expect(e.actual).toMatch(/witnesses empty/);
  });

  it('unknown segwit flags are refused', () => {
    const raw = Buffer.from(hex(REC.signed_tx.hex));
    raw[5] = 0x03;
    expect(formatError(() => parseTransaction(raw)).offset).toBe(5);
    raw[5] = 0x02;
    expect(formatError(() => parseTransaction(raw)).code).toBe('TX_MALFORMED');
  });

  it('a non-minimal compact size is refused', () => {
    const raw = hex(REC.funded_tx.hex);
    // The input count 01 rewritten as fd 01 00.
    const forged = Buffer.concat([raw.subarray(0, 4), Buffer.from([0xfd, 0x01, 0x00]), raw.subarray(5)]);
    const e = formatError(() => parseTransaction(forged));
    expect(e.offset).toBe(4);
    expect(e.expected).toMatch(/minimally encoded/);
  });

  it('huge counts and lengths fail at once instead of allocating or looping', () => {
    const v = Buffer.from('02000000', 'hex');
    const t0 = Date.now();
    for (const mid of ['fe00000002', 'fdffff', '0100' + 'ff'.repeat(8), '01' + '00'.repeat(36) + 'fe00000002']) {
      expect(formatError(() => parseTransaction(Buffer.concat([v, hex(mid), Buffer.alloc(64)]))).code).toBe('TX_MALFORMED');
    }
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

describe('findAnchorOutput on other output shapes', () => {
  const base = parseTransaction(hex(REC.funded_tx.hex));
  const data = hex(REC.anchor_data_hex);
  const withOutputs = (scripts: Buffer[]): Transaction =>
    parseTransaction(serializeTransaction({ ...base, outputs: scripts.map((script) => ({ valueSats: 0n, script })) }));
  const anchorScript = Buffer.concat([Buffer.from([0x6a, 0x20]), data]);
  const p2tr = base.outputs[1]!.script;

  const anchorError = (tx: Transaction): AnchorOutputError => thrownAs(AnchorOutputError, () => findAnchorOutput(tx));

  it('no OP_RETURN: undefined', () => {
    expect(findAnchorOutput(withOutputs([p2tr]))).toBeUndefined();
    expect(findAnchorOutput(withOutputs([]))).toBeUndefined();
  });

  it('two OP_RETURN outputs: ANCHOR_AMBIGUOUS, even when both carry the root', () => {
    const e = anchorError(withOutputs([anchorScript, p2tr, anchorScript]));
    expect(e.code).toBe('ANCHOR_AMBIGUOUS');
    expect(e.vouts).toEqual([0, 2]);
    expect(anchorError(withOutputs([anchorScript, Buffer.from([0x6a])])).code).toBe('ANCHOR_AMBIGUOUS');
  });

  it('one OP_RETURN that is not exactly 6a20 + 32 bytes: ANCHOR_MALFORMED', () => {
    const bad = [
      Buffer.from([0x6a]),
      Buffer.concat([Buffer.from([0x6a, 0x1f]), data.subarray(1)]),
      Buffer.concat([Buffer.from([0x6a, 0x21]), data, Buffer.from([0])]),
      Buffer.concat([Buffer.from([0x6a, 0x4c, 0x20]), data]),
      Buffer.concat([anchorScript, Buffer.from([0x75])]),
      Buffer.concat([Buffer.from([0x6a, 0x20]), data.subarray(0, 31)]),
    ];
    for (const s of bad) {
      const e = anchorError(withOutputs([p2tr, s]));
      expect(e.code).toBe('ANCHOR_MALFORMED');
      expect(e.vouts).toEqual([1]);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

const bytes = (max: number): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength: max }).map((u) => Buffer.from(u));
const u32 = fc.nat({ max: 0xffffffff });
const txFields: fc.Arbitrary<TransactionFields> = fc.record({
  version: u32,
  inputs: fc.array(
    fc.record({
      prevTxid: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((u) => Buffer.from(u).toString('hex')),
      vout: u32,
      scriptSig: bytes(300),
      sequence: u32,
      witness: fc.array(bytes(80), { maxLength: 3 }),
    }),
    { minLength: 1, maxLength: 4 },
  ),
  outputs: fc.array(fc.record({ valueSats: fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), script: bytes(300) }), { maxLength: 4 }),
  locktime: u32,
});

/** Real transactions with random damage: flips, truncations, insertions, deletions. */
const realTxs = [REC.unsigned_tx_hex, REC.funded_tx.hex, REC.signed_tx.hex, REC.confirmed_tx.hex].map(hex);
const mutated = fc
  .tuple(fc.constantFrom(...realTxs), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 }), fc.constantFrom('flip', 'set', 'cut', 'insert', 'delete')), { minLength: 1, maxLength: 4 }))
  .map(([raw, edits]) => {
    let b = Buffer.from(raw);
    for (const [at, v, op] of edits) {
      const i = b.length === 0 ? 0 : at % b.length;
      if (op === 'flip' && b.length > 0) b[i] = b[i]! ^ (1 << (v % 8));
      else if (op === 'set' && b.length > 0) b[i] = v;
      else if (op === 'cut') b = b.subarray(0, i);
      else if (op === 'insert') b = Buffer.concat([b.subarray(0, i), Buffer.from([v]), b.subarray(i)]);
      else if (op === 'delete') b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
    }
    return b;
  });

function checkDecoder(raw: Buffer): void {
  let tx: Transaction;
  try {
    tx = parseTransaction(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(BitcoinFormatError);
    const f = e as BitcoinFormatError;
    expect(f.code).toBe('TX_MALFORMED');
    expect(f.offset).toBeGreaterThanOrEqual(0);
    expect(f.offset).toBeLessThanOrEqual(raw.length);
    return;
  }
  // Whatever decodes re-encodes to the same bytes (canonical compact sizes, no trailing data).
  expect(serializeTransaction(tx).equals(raw)).toBe(true);
  expect(serializeTransaction(tx, { witness: false }).equals(tx.nonWitnessBytes)).toBe(true);
  expect(tx.weight).toBe(3 * tx.nonWitnessBytes.length + raw.length);
  for (const o of tx.outputs) expect(tx.nonWitnessBytes.subarray(o.scriptOffset, o.scriptOffset + o.script.length).equals(o.script)).toBe(true);
}

describe('parseTransaction properties', () => {
  it('on arbitrary bytes: a coded TX_MALFORMED or a tx that re-serializes to the input, nothing else', () => {
    fc.assert(fc.property(bytes(2000), checkDecoder), RUNS);
  });

  it('on damaged real transactions: the same', () => {
    fc.assert(fc.property(mutated, checkDecoder), RUNS);
  });

  it('on bytes that start like a tx (version, maybe a segwit marker): the same', () => {
    const start = fc.constantFrom('02000000', '0200000000', '020000000001', '01000000fd', '0100000001');
    fc.assert(fc.property(start, bytes(400), (s, rest) => checkDecoder(Buffer.concat([hex(s), rest]))), RUNS);
  });

  it('serialize → parse round-trips any tx with inputs; txid is sha256d of the witness-free form', () => {
    fc.assert(
      fc.property(txFields, (f) => {
        const raw = serializeTransaction(f);
        const tx = parseTransaction(raw);
        const hasWitness = f.inputs.some((i) => i.witness.length > 0);
        expect(tx.segwit).toBe(hasWitness);
        expect(tx.version).toBe(f.version);
        expect(tx.locktime).toBe(f.locktime);
        expect(tx.inputs).toEqual(f.inputs);
        expect(tx.outputs.map(({ valueSats, script }) => ({ valueSats, script }))).toEqual(f.outputs);
        const stripped = serializeTransaction(f, { witness: false });
        expect(tx.nonWitnessBytes.equals(stripped)).toBe(true);
        expect(txid(raw)).toBe(Buffer.from(sha256d(stripped)).reverse().toString('hex'));
        expect(wtxid(raw)).toBe(Buffer.from(sha256d(raw)).reverse().toString('hex'));
        expect(vsize(raw)).toBe(Math.ceil((3 * stripped.length + raw.length) / 4));
      }),
      { numRuns: 1000 },
    );
  });
});
