// src/bitcoin/merkle-branch.ts (and test/helpers/txoutproof.ts, its second opinion) against a
// real regtest block (getblock verbosity 1 txids, getblockheader, gettxoutproof, recorded from
// Bitcoin Core v30.99), plus
// property tests against an independent whole-tree computation.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BitcoinFormatError } from '../../src/bitcoin/errors.js';
import { parseHeader } from '../../src/bitcoin/header.js';
import { MAX_BLOCK_TXS, MerkleBranchError, blockMerkleRoot, branchLength, merkleBranch, merkleBranchInternal, rootFromBranch, verifyBranch } from '../../src/bitcoin/merkle-branch.js';
import { txidInternal } from '../../src/bitcoin/tx.js';
import { parseTxOutProof } from '../helpers/txoutproof.js';
import { thrownAs } from '../helpers/throws.js';

interface Recorded {
  confirmed_tx: { hex: string; decoded: { txid: string }; blockhash: string; blockindex: number };
  header: { hex: string; json: { hash: string; merkleroot: string; nTx: number } };
  block: { hash: string; merkleroot: string; nTx: number; tx: string[] };
  txoutproof: { txids: string[]; blockhash: string; hex: string };
}
const REC = JSON.parse(readFileSync(fileURLToPath(new URL('../vectors/bitcoin/regtest-anchor.json', import.meta.url)), 'utf8')) as Recorded;
const hex = (h: string): Buffer => Buffer.from(h, 'hex');
const rev = (h: string): Buffer => hex(h).reverse();

/** Independent reference: Satoshi's tree level by level (pad odd levels with the last node). */
const dsha = (b: Buffer): Buffer => createHash('sha256').update(createHash('sha256').update(b).digest()).digest();
function refRoot(leaves: Buffer[]): Buffer {
  let level = leaves;
  while (level.length > 1) {
    if (level.length % 2 === 1) level = [...level, level[level.length - 1]!];
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(dsha(Buffer.concat([level[i]!, level[i + 1]!])));
    level = next;
  }
  return level[0]!;
}

const branchError = (f: () => unknown): MerkleBranchError => thrownAs(MerkleBranchError, f);

describe('the real anchor block (getblock, getblockheader; Bitcoin Core v30.99 regtest)', () => {
  const header = parseHeader(hex(REC.header.hex));
  const anchorTxid = REC.confirmed_tx.decoded.txid;
  const index = REC.block.tx.indexOf(anchorTxid);
  const leaf = txidInternal(hex(REC.confirmed_tx.hex));

  it('the block, its header and the wallet agree on where the anchor tx is', () => {
    expect(REC.block.hash).toBe(header.hash);
    expect(REC.block.merkleroot).toBe(header.merkleRoot);
    expect(REC.block.tx).toHaveLength(REC.block.nTx);
    expect(REC.header.json.nTx).toBe(REC.block.nTx);
    expect(index).toBe(REC.confirmed_tx.blockindex);
    expect(REC.confirmed_tx.blockhash).toBe(header.hash);
  });

  it('the branch from the txid computed from the raw tx (with witness) reaches the header merkle root', () => {
    const { branch, index: i } = merkleBranch(REC.block.tx, index);
    expect(i).toBe(index);
    expect(branch).toHaveLength(branchLength(REC.block.nTx));
    const root = rootFromBranch(leaf, branch, index);
    expect(root.equals(header.merkleRootInternal)).toBe(true);
    expect(root.equals(rev(REC.header.json.merkleroot))).toBe(true);
    expect(rootFromBranch(leaf, branch, index, { txCount: REC.block.nTx }).equals(header.merkleRootInternal)).toBe(true);
  });

  it('every tx of the block checks, and the whole-block root matches (not mutated)', () => {
    for (let i = 0; i < REC.block.tx.length; i++) {
      const { branch } = merkleBranch(REC.block.tx, i);
      expect(verifyBranch(rev(REC.block.tx[i]!), branch, i, header.merkleRootInternal, { txCount: REC.block.nTx })).toBe(true);
    }
    expect(blockMerkleRoot(REC.block.tx.map(rev))).toEqual({ root: header.merkleRootInternal, mutated: false });
  });

  it('a tampered branch, index, txid or tx fails', () => {
    const { branch } = merkleBranch(REC.block.tx, index);
    const root = header.merkleRootInternal;
    for (let level = 0; level < branch.length; level++) {
      for (const bit of [0, 7, 255]) {
        const bad = branch.map((b) => Buffer.from(b));
        bad[level]![bit >> 3] ^= 1 << (bit & 7);
        expect(verifyBranch(leaf, bad, index, root)).toBe(false);
      }
    }
    for (let j = 0; j < 2 ** branch.length; j++) if (j !== index) expect(verifyBranch(leaf, branch, j, root)).toBe(false);
    const badLeaf = Buffer.from(leaf);
    badLeaf[31] ^= 0x80;
    expect(verifyBranch(badLeaf, branch, index, root)).toBe(false);
    // The tx itself: one byte of the OP_RETURN data changed gives another txid.
    const rawTx = hex(REC.confirmed_tx.hex);
    const at = rawTx.indexOf(hex('6a20')) + 2;
    rawTx[at] ^= 1;
    expect(verifyBranch(txidInternal(rawTx), branch, index, root)).toBe(false);
    // Extra or missing levels.
    expect(verifyBranch(leaf, [...branch, root], index, root)).toBe(false);
    expect(verifyBranch(leaf, branch.slice(1), index, root)).toBe(false);
    expect(verifyBranch(leaf, [], index, root)).toBe(false);
    // Someone else's root.
    expect(verifyBranch(leaf, branch, index, header.prevBlockInternal)).toBe(false);
  });

  it('gettxoutproof: the same header, the anchor matched at its index, the root of the header', () => {
    const p = parseTxOutProof(hex(REC.txoutproof.hex));
    expect(p.header.raw.equals(hex(REC.header.hex))).toBe(true);
    expect(p.header.hash).toBe(REC.txoutproof.blockhash);
    expect(p.txCount).toBe(REC.block.nTx);
    expect(p.matches.map((m) => ({ txid: m.txid, index: m.index }))).toEqual(REC.txoutproof.txids.map((t) => ({ txid: t, index: REC.block.tx.indexOf(t) })));
    expect(p.matches[0]!.txidInternal.equals(leaf)).toBe(true);
    expect(p.merkleRoot.equals(header.merkleRootInternal)).toBe(true);
    expect(p.valid).toBe(true);
  });

  it('gettxoutproof: a changed hash no longer reaches the header root', () => {
    const raw = hex(REC.txoutproof.hex);
    const hashesAt = 80 + 4 + 1;
    for (let k = 0; k < 2; k++) {
      const bad = Buffer.from(raw);
      bad[hashesAt + 32 * k] ^= 1;
      expect(parseTxOutProof(bad).valid).toBe(false);
    }
  });

  it('gettxoutproof: truncated, extended or inconsistent proofs are PROOF_MALFORMED', () => {
    const raw = hex(REC.txoutproof.hex);
    const code = (b: Buffer): string | undefined => {
      try {
        parseTxOutProof(b);
      } catch (e) {
        if (e instanceof BitcoinFormatError) return e.code;
        throw e;
      }
      return undefined;
    };
    for (let n = 0; n < raw.length; n++) expect(code(raw.subarray(0, n))).toBe('PROOF_MALFORMED');
    expect(code(Buffer.concat([raw, Buffer.from([0])]))).toBe('PROOF_MALFORMED');
    const withFlags = (flags: number[], count = 2, hashes = [raw.subarray(85, 117), raw.subarray(117, 149)]): Buffer => {
      const c = Buffer.alloc(4);
      c.writeUInt32LE(count);
      return Buffer.concat([raw.subarray(0, 80), c, Buffer.from([hashes.length]), ...hashes, Buffer.from([flags.length]), Buffer.from(flags)]);
    };
    expect(parseTxOutProof(withFlags([0x05])).valid).toBe(true);
    expect(code(withFlags([0x05, 0x00]))).toBe('PROOF_MALFORMED'); // an unused flag byte
    expect(code(withFlags([0x00]))).toBe('PROOF_MALFORMED'); // the root is hash 0; hash 1 unused
    // Both leaves given as plain hashes: well formed, same root, nothing matched.
    expect(parseTxOutProof(withFlags([0x01]))).toMatchObject({ valid: true, matches: [] });
    expect(code(withFlags([0x05], 0))).toBe('PROOF_MALFORMED'); // zero txs
    expect(code(withFlags([0x05], MAX_BLOCK_TXS + 1))).toBe('PROOF_MALFORMED');
    expect(code(withFlags([0x05], 1))).toBe('PROOF_MALFORMED'); // more hashes than txs
    // CVE-2012-2459: the right child equal to its left sibling.
    const h = raw.subarray(117, 149);
    expect(code(withFlags([0x07], 2, [h, h]))).toBe('PROOF_MALFORMED');
  });
});

const uniqueTxids = (min: number, max: number): fc.Arbitrary<Buffer[]> =>
  fc.uniqueArray(fc.uint8Array({ minLength: 32, maxLength: 32 }).map((u) => Buffer.from(u)), { minLength: min, maxLength: max, selector: (b) => b.toString('hex') });

describe('merkle branch properties', () => {
  it('for 1..50 txids and every index: merkleBranch and rootFromBranch reach the reference root, and only at that index', () => {
    fc.assert(
      fc.property(uniqueTxids(1, 50), (txids) => {
        const root = refRoot(txids);
        expect(blockMerkleRoot(txids)).toEqual({ root, mutated: false });
        const display = txids.map((t) => Buffer.from(t).reverse().toString('hex'));
        for (let i = 0; i < txids.length; i++) {
          const { branch, index } = merkleBranch(display, i);
          expect(index).toBe(i);
          expect(branch).toHaveLength(branchLength(txids.length));
          expect(merkleBranchInternal(txids, i).branch).toEqual(branch);
          expect(rootFromBranch(txids[i]!, branch, i).equals(root)).toBe(true);
          expect(rootFromBranch(txids[i]!, branch, i, { txCount: txids.length }).equals(root)).toBe(true);
          for (let j = 0; j < 2 ** branch.length; j++) if (j !== i) expect(verifyBranch(txids[i]!, branch, j, root)).toBe(false);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('CVE-2012-2459: [a, b, c] and [a, b, c, c] share a root; the padded copy cannot be proven, and the mutation is flagged', () => {
    fc.assert(
      fc.property(uniqueTxids(1, 40).filter((t) => t.length % 2 === 1 && t.length > 1), (txids) => {
        const n = txids.length;
        const last = txids[n - 1]!;
        const mutatedList = [...txids, last];
        const root = blockMerkleRoot(txids).root;
        expect(blockMerkleRoot(mutatedList)).toEqual({ root, mutated: true });
        // In the mutated list the copy at index n has the same root via a right-child step whose
        // left sibling is itself: refused, with or without the tx count.
        const { branch } = merkleBranchInternal(mutatedList, n);
        expect(branchError(() => rootFromBranch(last, branch, n)).code).toBe('BRANCH_MALFORMED');
        expect(verifyBranch(last, branch, n, root, { txCount: n + 1 })).toBe(false);
        expect(verifyBranch(last, branch, n, root, { txCount: n })).toBe(false);
        // The real last tx at n-1 still proves, and with txCount the shape must be n's.
        const real = merkleBranchInternal(txids, n - 1).branch;
        expect(verifyBranch(last, real, n - 1, root, { txCount: n })).toBe(true);
        expect(verifyBranch(last, real, n - 1, root, { txCount: n + 1 })).toBe(false);
      }),
      { numRuns: 100 },
    );
  });

  it('with txCount, a branch whose shape does not fit the block is refused', () => {
    fc.assert(
      fc.property(uniqueTxids(2, 40), fc.nat(), (txids, k) => {
        const n = txids.length;
        const i = k % n;
        const { branch } = merkleBranchInternal(txids, i);
        const root = blockMerkleRoot(txids).root;
        expect(verifyBranch(txids[i]!, branch, i, root, { txCount: n })).toBe(true);
        // A count with a different depth, or that puts i out of range, or a padded level elsewhere.
        for (const other of [1, n + 1, 2 * n, i]) {
          if (other === n) continue;
          const sameShape = other >= 1 && branchLength(other) === branch.length && i < other && paddedLevels(other, i) === paddedLevels(n, i);
          if (!sameShape) expect(verifyBranch(txids[i]!, branch, i, root, { txCount: other })).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('malformed inputs are refused with a coded error', () => {
    const t = Buffer.alloc(32, 1);
    const s = Buffer.alloc(32, 2);
    expect(branchError(() => rootFromBranch(Buffer.alloc(31), [s], 0)).code).toBe('BRANCH_MALFORMED');
    expect(branchError(() => rootFromBranch(t, [Buffer.alloc(33)], 0)).code).toBe('BRANCH_MALFORMED');
    expect(branchError(() => rootFromBranch(t, [s], 2)).code).toBe('BRANCH_MALFORMED');
    expect(branchError(() => rootFromBranch(t, [s], -1)).code).toBe('BRANCH_MALFORMED');
    expect(branchError(() => rootFromBranch(t, [s], 0.5)).code).toBe('BRANCH_MALFORMED');
    expect(branchError(() => rootFromBranch(t, Array.from({ length: 16 }, () => s), 0)).code).toBe('BRANCH_MALFORMED');
    expect(branchError(() => rootFromBranch(t, [s], 0, { txCount: 0 })).code).toBe('BRANCH_MALFORMED');
    expect(rootFromBranch(t, [], 0).equals(t)).toBe(true);
    expect(() => merkleBranch([], 0)).toThrow(RangeError);
    expect(() => merkleBranch([t.toString('hex')], 1)).toThrow(RangeError);
    expect(() => merkleBranch(['zz'.repeat(32)], 0)).toThrow(BitcoinFormatError);
    expect(branchLength(1)).toBe(0);
    expect(branchLength(2)).toBe(1);
    expect(branchLength(3)).toBe(2);
    expect(branchLength(MAX_BLOCK_TXS)).toBe(15);
  });
});

/** Bitmask of the levels where leaf i of an n-leaf tree is the padded last node. */
function paddedLevels(n: number, i: number): number {
  let mask = 0;
  for (let h = 0, w = n, p = i; w > 1; h++, w = Math.ceil(w / 2), p >>= 1) if (p % 2 === 0 && p === w - 1) mask |= 1 << h;
  return mask;
}
