// The .ots writer (src/bitcoin/ots.ts, ots-anchor.ts, checkpoint/batch-tree.ts anchorPathSteps)
// against bytes python-opentimestamps serialized (test/vectors/ots/make_ots_vectors.py): made-up
// chains at the format's edges, and every checkpoint proof of the anchor round recorded from a
// real Bitcoin Core, built here from the recording through our own tree and branch code.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { merkleBranch } from '../../src/bitcoin/merkle-branch.js';
import { anchorTimestampOps, OtsPathError, txTimestampOps } from '../../src/bitcoin/ots-anchor.js';
import { applyOps, OTS_MAX_OPS, OtsLimitError, serializeDetachedTimestamp, varuint, type OtsOp } from '../../src/bitcoin/ots.js';
import { parseHeader } from '../../src/bitcoin/header.js';
import { anchorPathSteps, anchorRootOf, buildAnchorTree } from '../../src/checkpoint/batch-tree.js';
import { checkpointHash } from '../../src/checkpoint/format.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { loadRecording } from '../helpers/rpc-replay.js';
import { thrownAs } from '../helpers/throws.js';

const VEC = JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'vectors', 'ots', 'ots-v1.json'), 'utf8')) as {
  format: { name: string; digest: string; ops: { op: 'append' | 'prepend' | 'sha256'; arg?: string }[]; height: number; result: string; ots: string }[];
  recorded_round: { height: number; header: string; tx_index: number; txid: string; root: string; proofs: { checkpoint: number; ots: string }[] };
};
const ROUND_DIR = join(REPO_ROOT, 'test', 'vectors', 'bitcoind');
const hex = (h: string): Buffer => Buffer.from(h, 'hex');
const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();
const opsOf = (ops: (typeof VEC.format)[number]['ops']): OtsOp[] => ops.map((o) => (o.op === 'sha256' ? { op: 'sha256' } : { op: o.op, arg: hex(o.arg!) }));

describe('the .ots format, byte for byte as python-opentimestamps writes it', () => {
  for (const c of VEC.format) {
    it(c.name, () => {
      expect(applyOps(hex(c.digest), opsOf(c.ops)).toString('hex')).toBe(c.result);
      expect(serializeDetachedTimestamp(hex(c.digest), opsOf(c.ops), c.height).toString('hex')).toBe(c.ots);
    });
  }

  it('varuint is LEB128', () => {
    expect([0, 127, 128, 16383, 16384].map((n) => varuint(n).toString('hex'))).toEqual(['00', '7f', '8001', 'ff7f', '808001']);
  });

  it('refuses what a reader would refuse: an empty argument, too many operations, a result that is not 32 bytes', () => {
    const d = Buffer.alloc(32, 1);
    expect(thrownAs(OtsLimitError, () => serializeDetachedTimestamp(d, [{ op: 'append', arg: Buffer.alloc(0) }, { op: 'sha256' }], 1)).message).toMatch(/expected an argument of 1\.\.4096 bytes, got 0/);
    const many: OtsOp[] = Array.from({ length: OTS_MAX_OPS + 1 }, () => ({ op: 'sha256' }));
    expect(thrownAs(OtsLimitError, () => serializeDetachedTimestamp(d, many, 1)).message).toMatch(/at most 255 operations/);
    expect(() => serializeDetachedTimestamp(d, many.slice(1), 1)).not.toThrow();
    expect(thrownAs(OtsLimitError, () => serializeDetachedTimestamp(d, [{ op: 'append', arg: Buffer.alloc(1) }], 1)).message).toMatch(/32-byte merkle root, they end in 33/);
    expect(thrownAs(OtsLimitError, () => applyOps(d, [{ op: 'append', arg: Buffer.alloc(4096) }])).message).toMatch(/result of at most 4096 bytes, got 4128/);
  });
});

describe("a checkpoint's path as hash steps (anchorPathSteps)", () => {
  it('leads from c_j to the root the RFC 6962 proof leads to, for every leaf of trees of 1..40 checkpoints', () => {
    for (let n = 1; n <= 40; n++) {
      const cps = Array.from({ length: n }, (_, i) => ({ index: i, hash: sha256(Buffer.from(`c${n}.${i}`)) }));
      const tree = buildAnchorTree(cps);
      for (const p of tree.proofs) {
        const steps = anchorPathSteps(p)!;
        const ops: OtsOp[] = steps.flatMap((s) => [{ op: 'prepend', arg: s.prefix } as OtsOp, ...(s.suffix.length ? [{ op: 'append', arg: s.suffix } as OtsOp] : []), { op: 'sha256' } as OtsOp]);
        const reached = applyOps(cps[p.leafIndex]!.hash, ops);
        expect(reached.equals(tree.root), `leaf ${p.leafIndex} of ${n}`).toBe(true);
        expect(reached.equals(anchorRootOf(cps[p.leafIndex]!.hash, p)!)).toBe(true);
      }
    }
  });

  it('is undefined for a path of the wrong length or an index outside the tree', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 64 }), fc.nat(), (n, m) => {
        const i = m % n;
        const tree = buildAnchorTree(Array.from({ length: n }, (_, k) => ({ index: k, hash: sha256(Buffer.from([k])) })));
        const p = tree.proofs[i]!;
        expect(anchorPathSteps({ ...p, path: p.path.slice(1) })).toBeUndefined();
        expect(anchorPathSteps({ ...p, path: [...p.path, Buffer.alloc(32)] })).toBeUndefined();
        expect(anchorPathSteps({ ...p, leafIndex: n })).toBeUndefined();
      }),
      { numRuns: 200 },
    );
  });
});

describe('the recorded anchor round: every checkpoint proof equals the one python-opentimestamps built from the recording', () => {
  const rec = loadRecording(join(ROUND_DIR, 'anchor-worker-round.jsonl'));
  const checkpoints = (JSON.parse(readFileSync(join(ROUND_DIR, 'anchor-worker-round.checkpoints.json'), 'utf8')) as { checkpoints: { idx: number; bytes: string }[] }).checkpoints;
  const rawTx = hex(rec.find((x) => x.request.method === 'sendrawtransaction')!.request.params[0] as string);
  const block = (rec.find((x) => x.request.method === 'getblock')!.response as { result: { tx: string[]; height: number } }).result;
  const header = parseHeader(hex(VEC.recorded_round.header));

  it('the transaction part reaches the recorded header and the tree part the OP_RETURN', () => {
    const index = block.tx.indexOf(VEC.recorded_round.txid);
    const tx = txTimestampOps({ rawTx, branch: merkleBranch(block.tx, index).branch, index });
    expect(tx.txid).toBe(VEC.recorded_round.txid);
    expect(tx.merkleRoot.equals(header.merkleRootInternal)).toBe(true);
    const tree = buildAnchorTree(checkpoints.map((c) => ({ index: c.idx, hash: checkpointHash(hex(c.bytes)) })));
    expect(tree.root.toString('hex')).toBe(VEC.recorded_round.root);
    expect(VEC.recorded_round.proofs).toHaveLength(checkpoints.length);
    for (const p of tree.proofs) {
      const digest = checkpointHash(hex(checkpoints[p.leafIndex]!.bytes));
      const ots = serializeDetachedTimestamp(digest, anchorTimestampOps(digest, anchorPathSteps(p)!, tx), block.height);
      expect(ots.toString('hex'), `checkpoint ${p.checkpoint}`).toBe(VEC.recorded_round.proofs.find((v) => v.checkpoint === p.checkpoint)!.ots);
    }
    // Another checkpoint's hash does not lead to the OP_RETURN.
    const other = sha256(Buffer.from('not a checkpoint of this round'));
    expect(thrownAs(OtsPathError, () => anchorTimestampOps(other, anchorPathSteps(tree.proofs[0]!)!, tx)).message).toMatch(/OP_RETURN carries/);
  });
});

describe('a replaced (bump-fee), segwit anchor transaction with its OP_RETURN at vout 1', () => {
  // Recorded from Bitcoin Core (test/vectors/bitcoin/regtest-anchor.json): the witness is not
  // part of what the operations hash, or they would not reach the block's merkle root.
  const R = JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'vectors', 'bitcoin', 'regtest-anchor.json'), 'utf8')) as {
    anchor_data_hex: string;
    confirmed_tx: { hex: string; blockindex: number };
    header: { hex: string };
    block: { tx: string[] };
  };
  it('leads from the 32 OP_RETURN bytes to the recorded block merkle root', () => {
    const index = R.confirmed_tx.blockindex;
    const tx = txTimestampOps({ rawTx: hex(R.confirmed_tx.hex), branch: merkleBranch(R.block.tx, index).branch, index });
    expect(tx.anchorRoot.toString('hex')).toBe(R.anchor_data_hex);
    expect(applyOps(hex(R.anchor_data_hex), tx.ops).equals(parseHeader(hex(R.header.hex)).merkleRootInternal)).toBe(true);
    expect(tx.ops.some((o) => o.op !== 'sha256' && o.arg.length > 200)).toBe(false);
  });
});
