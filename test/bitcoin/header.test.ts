// src/bitcoin/header.ts against a real regtest header (getblockheader hex and JSON,
// recorded from Bitcoin Core v30.99) and against the genesis blocks of mainnet, testnet3, signet
// and regtest rebuilt from Bitcoin Core's chainparams.cpp parameters (test/vectors/bitcoin/genesis.json).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BitcoinFormatError } from '../../src/bitcoin/errors.js';
import { blockWork, checkProofOfWork, parseHeader, targetFromBits, u256Hex } from '../../src/bitcoin/header.js';
import { blockMerkleRoot } from '../../src/bitcoin/merkle-branch.js';
import { findAnchorOutput, parseTransaction, txid, txidInternal, vsize } from '../../src/bitcoin/tx.js';
import { serializeTransaction, serializeHeader } from '../helpers/bitcoin-serialize.js';

interface Recorded {
  regtest_genesis: { hash: string; bits: string; target: string; time: number };
  header: {
    hex: string;
    json: { hash: string; height: number; version: number; versionHex: string; merkleroot: string; time: number; nonce: number; bits: string; target: string; chainwork: string; nTx: number; previousblockhash: string };
  };
}
interface Network { time: number; nonce: number; bits: string; version: number; hash: string; pow_limit: string }
interface Genesis {
  coinbase: { version: number; timestamp_text: string; script_sig_ints: number[]; script_sig_hex_from_comment: string; output_pubkey_hex: string; reward_sats: string; locktime: number };
  merkle_root: string;
  networks: Record<'main' | 'testnet3' | 'signet' | 'regtest', Network>;
}

const vectors = (name: string): unknown => JSON.parse(readFileSync(fileURLToPath(new URL(`../vectors/bitcoin/${name}`, import.meta.url)), 'utf8'));
const REC = vectors('regtest-anchor.json') as Recorded;
const GEN = vectors('genesis.json') as Genesis;
const hex = (h: string): Buffer => Buffer.from(h, 'hex');
const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();
const ZERO_HASH = '00'.repeat(32);

describe('a real regtest block header (getblockheader, Bitcoin Core v30.99)', () => {
  const raw = hex(REC.header.hex);
  const j = REC.header.json;
  const h = parseHeader(raw);

  it('parses to the fields getblockheader printed', () => {
    expect(h.hash).toBe(j.hash);
    expect(h.merkleRoot).toBe(j.merkleroot);
    expect(h.prevBlock).toBe(j.previousblockhash);
    expect(h.time).toBe(j.time);
    expect(h.bitsHex).toBe(j.bits);
    expect(h.bits).toBe(parseInt(j.bits, 16));
    expect(h.nonce).toBe(j.nonce);
    expect(h.version).toBe(j.version);
    expect((h.version >>> 0).toString(16).padStart(8, '0')).toBe(j.versionHex);
  });

  it('its hash is the reversed double SHA-256 of the 80 bytes; the merkle root is bytes 36..68', () => {
    expect(raw.length).toBe(80);
    expect(Buffer.from(sha256(sha256(raw))).reverse().toString('hex')).toBe(j.hash);
    expect(h.hashInternal.equals(sha256(sha256(raw)))).toBe(true);
    expect(h.merkleRootInternal.equals(raw.subarray(36, 68))).toBe(true);
    expect(Buffer.from(h.merkleRootInternal).reverse().toString('hex')).toBe(j.merkleroot);
    expect(h.prevBlockInternal.equals(raw.subarray(4, 36))).toBe(true);
  });

  it('target, proof of work and chainwork agree with the node', () => {
    const t = targetFromBits(h.bits);
    expect(t).toEqual({ target: BigInt(`0x${j.target}`), negative: false, overflow: false });
    expect(u256Hex(t.target)).toBe(j.target);
    expect(checkProofOfWork(h)).toBe(true);
    expect(checkProofOfWork(h, BigInt(`0x${GEN.networks.regtest.pow_limit}`))).toBe(true);
    // A regtest target is above mainnet's powLimit.
    expect(checkProofOfWork(h, BigInt(`0x${GEN.networks.main.pow_limit}`))).toBe(false);
    // Every regtest block has bits 207fffff: chainwork = (height + 1) × work per block.
    expect(u256Hex(blockWork(h.bits) * BigInt(j.height + 1))).toBe(j.chainwork);
  });

  it('re-serializes to the same 80 bytes', () => {
    expect(serializeHeader(h).equals(raw)).toBe(true);
  });

  it('a header that is not exactly 80 bytes is HEADER_MALFORMED', () => {
    for (const b of [raw.subarray(0, 79), Buffer.concat([raw, Buffer.from([0])]), Buffer.alloc(0)]) {
      let err: unknown;
      try {
        parseHeader(b);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BitcoinFormatError);
      expect((err as BitcoinFormatError).code).toBe('HEADER_MALFORMED');
    }
  });

  it('any 80 bytes parse, and serialize back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 80, maxLength: 80 }), (u) => {
        const b = Buffer.from(u);
        expect(serializeHeader(parseHeader(b)).equals(b)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

/** CScript << n for the genesis scriptSig: a minimal little-endian CScriptNum push (no sign bit needed here). */
function pushNum(n: number): Buffer {
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.push(v % 256);
  if (bytes[bytes.length - 1]! & 0x80) bytes.push(0);
  return Buffer.from([bytes.length, ...bytes]);
}
function pushData(b: Buffer): Buffer {
  expect(b.length).toBeLessThan(0x4c);
  return Buffer.concat([Buffer.from([b.length]), b]);
}

/** CreateGenesisBlock's coinbase, from its parameters. */
function genesisCoinbase(): Buffer {
  const c = GEN.coinbase;
  const scriptSig = Buffer.concat([...c.script_sig_ints.map(pushNum), pushData(Buffer.from(c.timestamp_text, 'latin1'))]);
  expect(scriptSig.toString('hex')).toBe(c.script_sig_hex_from_comment);
  const OP_CHECKSIG = 0xac;
  return serializeTransaction({
    version: c.version,
    inputs: [{ prevTxid: ZERO_HASH, vout: 0xffffffff, scriptSig, sequence: 0xffffffff, witness: [] }],
    outputs: [{ valueSats: BigInt(c.reward_sats), script: Buffer.concat([pushData(hex(c.output_pubkey_hex)), Buffer.from([OP_CHECKSIG])]) }],
    locktime: c.locktime,
  });
}

describe('genesis blocks rebuilt from Bitcoin Core chainparams.cpp', () => {
  const coinbase = genesisCoinbase();

  it("the genesis coinbase's txid is the asserted merkle root, which is the 1-tx block's root", () => {
    const tx = parseTransaction(coinbase);
    expect(tx.segwit).toBe(false);
    expect(txid(coinbase)).toBe(GEN.merkle_root);
    expect(vsize(coinbase)).toBe(coinbase.length);
    expect(blockMerkleRoot([txidInternal(coinbase)])).toEqual({ root: txidInternal(coinbase), mutated: false });
    expect(tx.inputs[0]!.prevTxid).toBe(ZERO_HASH);
    expect(tx.outputs[0]!.valueSats).toBe(5_000_000_000n);
    expect(findAnchorOutput(tx)).toBeUndefined();
  });

  for (const name of ['main', 'testnet3', 'signet', 'regtest'] as const) {
    it(`${name}: the header built from (version, zero prev, root, time, bits, nonce) hashes to the asserted genesis hash and meets its target`, () => {
      const n = GEN.networks[name];
      const raw = serializeHeader({ version: n.version, prevBlock: ZERO_HASH, merkleRoot: txid(coinbase), time: n.time, bits: parseInt(n.bits, 16), nonce: n.nonce });
      const h = parseHeader(raw);
      expect(h.hash).toBe(n.hash);
      expect(h.merkleRoot).toBe(GEN.merkle_root);
      expect(h.prevBlock).toBe(ZERO_HASH);
      expect(h.bitsHex).toBe(n.bits);
      const powLimit = BigInt(`0x${n.pow_limit}`);
      expect(checkProofOfWork(h, powLimit)).toBe(true);
      if (name !== 'regtest') {
        // Real difficulty: the neighbouring nonces do not meet the target.
        for (const nonce of [n.nonce - 1, n.nonce + 1]) {
          const other = parseHeader(serializeHeader({ ...h, nonce }));
          expect(other.hash).not.toBe(n.hash);
          expect(checkProofOfWork(other, powLimit)).toBe(false);
        }
      }
    });
  }

  it('mainnet genesis: the well-known values', () => {
    const main = GEN.networks.main;
    expect(main.hash).toBe('000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f');
    expect(GEN.merkle_root).toBe('4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b');
    expect([main.version, main.time, main.bits, main.nonce]).toEqual([1, 1231006505, '1d00ffff', 2083236893]);
  });

  it("the rebuilt regtest genesis is the real node's block 0 (getblockchaininfo at height 0)", () => {
    const r = GEN.networks.regtest;
    expect(r.hash).toBe(REC.regtest_genesis.hash);
    expect(r.bits).toBe(REC.regtest_genesis.bits);
    expect(r.time).toBe(REC.regtest_genesis.time);
    expect(u256Hex(targetFromBits(parseInt(r.bits, 16)).target)).toBe(REC.regtest_genesis.target);
  });
});

describe('targetFromBits (arith_uint256::SetCompact)', () => {
  it('decodes, with the negative and overflow flags', () => {
    const cases: [number, bigint, boolean, boolean][] = [
      [0x00000000, 0n, false, false],
      [0x01003456, 0n, false, false],
      [0x01123456, 0x12n, false, false],
      [0x02008000, 0x80n, false, false],
      [0x05009234, 0x92340000n, false, false],
      [0x04123456, 0x12345600n, false, false],
      [0x04923456, 0x12345600n, true, false],
      [0x1d00ffff, 0xffffn << 208n, false, false],
      [0xff123456, (0x123456n << BigInt(8 * (0xff - 3))) & ((1n << 256n) - 1n), false, true],
    ];
    for (const [bits, target, negative, overflow] of cases) expect(targetFromBits(bits)).toEqual({ target, negative, overflow });
  });

  it('invalid targets never pass proof of work', () => {
    const hash = '00'.repeat(32);
    expect(checkProofOfWork({ bits: 0x00000000, hash })).toBe(false);
    expect(checkProofOfWork({ bits: 0x04923456, hash })).toBe(false);
    expect(checkProofOfWork({ bits: 0xff123456, hash })).toBe(false);
    expect(checkProofOfWork({ bits: 0x207fffff, hash: '80'.padEnd(64, '0') })).toBe(false);
    expect(blockWork(0x00000000)).toBe(0n);
  });
});
