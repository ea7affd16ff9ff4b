// src/bitcoin/inclusion.ts: the whole offline check (tx → OP_RETURN root → txid → branch →
// header) on the real recorded anchor, and each way it can fail.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { verifyAnchorInclusion, type InclusionInput, type InclusionResult } from '../../src/bitcoin/inclusion.js';
import { merkleBranch } from '../../src/bitcoin/merkle-branch.js';
import { parseTransaction, txidInternal } from '../../src/bitcoin/tx.js';
import { serializeTransaction } from '../helpers/bitcoin-serialize.js';
import { needClients } from '../clients/available.js';

/** extract.py is standard-library Python. */
const extractor = needClients('python3');

interface Recorded {
  anchor_data_hex: string;
  unsigned_tx_hex: string;
  funded_tx: { hex: string };
  signed_tx: { hex: string };
  confirmed_tx: { hex: string; decoded: { txid: string } };
  header: { hex: string; json: { hash: string } };
  block: { nTx: number; tx: string[] };
}
interface Genesis { networks: Record<string, { pow_limit: string }> }

const VECTORS = fileURLToPath(new URL('../vectors/bitcoin/', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const REC = JSON.parse(readFileSync(`${VECTORS}regtest-anchor.json`, 'utf8')) as Recorded;
const GEN = JSON.parse(readFileSync(`${VECTORS}genesis.json`, 'utf8')) as Genesis;
const hex = (h: string): Buffer => Buffer.from(h, 'hex');

const index = REC.block.tx.indexOf(REC.confirmed_tx.decoded.txid);
const good: InclusionInput = {
  rawTx: hex(REC.confirmed_tx.hex),
  branch: merkleBranch(REC.block.tx, index).branch,
  index,
  header: hex(REC.header.hex),
  txCount: REC.block.nTx,
  expectedRoot: hex(REC.anchor_data_hex),
  powLimit: BigInt(`0x${GEN.networks.regtest!.pow_limit}`),
};
const failure = (r: InclusionResult): string => (r.ok ? 'ok' : r.code);

describe('verifyAnchorInclusion on the recorded anchor', () => {
  it('accepts the real anchor: root, txid, vout and block', () => {
    const r = verifyAnchorInclusion(good);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.txid).toBe(REC.confirmed_tx.decoded.txid);
    expect(r.root.toString('hex')).toBe(REC.anchor_data_hex);
    expect(r.vout).toBe(1);
    expect(r.header.hash).toBe(REC.header.json.hash);
    // Without the optional checks too, and from the witness-stripped bytes.
    const stripped = serializeTransaction(parseTransaction(good.rawTx), { witness: false });
    expect(verifyAnchorInclusion({ rawTx: stripped, branch: good.branch, index, header: good.header }).ok).toBe(true);
  });

  it('refuses each broken piece with its own code', () => {
    const tamperedBranch = good.branch.map((b) => Buffer.from(b));
    tamperedBranch[0]![0] ^= 1;
    const txBytes = Buffer.from(good.rawTx);
    txBytes[txBytes.indexOf(hex(`6a20${REC.anchor_data_hex}`)) + 2] ^= 1;
    const cases: [Partial<InclusionInput>, string][] = [
      [{ rawTx: good.rawTx.subarray(0, 100) }, 'TX_MALFORMED'],
      [{ rawTx: hex(REC.unsigned_tx_hex) }, 'TX_MALFORMED'], // no inputs: cannot be mined
      [{ expectedRoot: Buffer.alloc(32) }, 'ANCHOR_ROOT_MISMATCH'],
      [{ rawTx: txBytes, expectedRoot: undefined }, 'MERKLE_ROOT_MISMATCH'],
      [{ branch: tamperedBranch }, 'MERKLE_ROOT_MISMATCH'],
      [{ index: 0 }, 'MERKLE_ROOT_MISMATCH'],
      [{ index: 2 }, 'BRANCH_MALFORMED'], // beyond the branch and the tx count
      [{ branch: [txidInternal(good.rawTx)] }, 'BRANCH_MALFORMED'], // left sibling = itself (CVE-2012-2459)
      [{ branch: [...good.branch, Buffer.alloc(32)] }, 'BRANCH_MALFORMED'],
      [{ header: good.header.subarray(0, 79) }, 'HEADER_MALFORMED'],
      [{ powLimit: BigInt(`0x${GEN.networks.main!.pow_limit}`) }, 'POW_INVALID'],
    ];
    for (const [change, code] of cases) expect(failure(verifyAnchorInclusion({ ...good, ...change })), code).toBe(code);
  });

  it('refuses a tx without one well-formed OP_RETURN output', () => {
    const base = parseTransaction(good.rawTx);
    const withOutputs = (scripts: Buffer[]): Buffer => serializeTransaction({ ...base, outputs: scripts.map((script) => ({ valueSats: 0n, script })) });
    const p2tr = base.outputs[0]!.script;
    const anchor = base.outputs[1]!.script;
    expect(failure(verifyAnchorInclusion({ ...good, rawTx: withOutputs([p2tr]) }))).toBe('NO_ANCHOR_OUTPUT');
    expect(failure(verifyAnchorInclusion({ ...good, rawTx: withOutputs([anchor, anchor]) }))).toBe('ANCHOR_AMBIGUOUS');
    expect(failure(verifyAnchorInclusion({ ...good, rawTx: withOutputs([p2tr, Buffer.concat([hex('6a4c20'), anchor.subarray(2)])]) }))).toBe('ANCHOR_MALFORMED');
  });

  it('refuses a tx whose non-witness serialization is 64 bytes or less (it could be an inner merkle node)', () => {
    const base = parseTransaction(hex(REC.funded_tx.hex));
    const tiny = serializeTransaction({ ...base, inputs: base.inputs.map((i) => ({ ...i, witness: [] })), outputs: [{ valueSats: 0n, script: hex('6a02abcd') }] });
    expect(tiny.length).toBe(64);
    expect(failure(verifyAnchorInclusion({ ...good, rawTx: tiny }))).toBe('TX_TOO_SHORT');
    // The smallest tx carrying a real anchor output is well above 64 bytes.
    const smallest = serializeTransaction({ ...base, inputs: base.inputs.map((i) => ({ ...i, witness: [] })), outputs: [base.outputs[0]!] });
    expect(smallest.length).toBe(94);
  });
});

describe('test/vectors/bitcoin/regtest-anchor.json', () => {
  extractor.it('is what extract.py makes from test/vectors/bitcoind-rpc/anchor-lifecycle.jsonl', () => {
    expect(existsSync(`${REPO_ROOT}test/vectors/bitcoind-rpc/anchor-lifecycle.jsonl`), 'the recordings are committed with the tests').toBe(true);
    const r = spawnSync('/usr/bin/python3', [`${VECTORS}extract.py`, '--check'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
