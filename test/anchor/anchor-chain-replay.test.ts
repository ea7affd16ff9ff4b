import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Anchorer, AnchorRoundError } from '../../src/anchor/anchorer.js';
import { DEFAULT_ANCHOR_POLICY } from '../../src/anchor/policy.js';
import { chainOutputOf, spends } from '../../src/bitcoin/anchor-chain.js';
import { parseTransaction } from '../../src/bitcoin/tx.js';
import { connectChainReader } from '../../src/bitcoind/reader.js';
import { connectAnchorNode } from '../../src/bitcoind/writer.js';
import { LogStore } from '../../src/store/log-store.js';
import { checkAnchorChain } from '../../src/verify/anchor-chain.js';
import type { Failure } from '../../src/verify/failures.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { loadRecording, startReplay } from '../helpers/rpc-replay.js';

// Three chained anchors of the real anchorer, recorded against Bitcoin Core in regtest (scenario 7
// of test/integration/anchor-regtest.test.ts with IMMUTALOG_RECORD_RPC=chain): the third bumped
// by replace-by-fee, then verify on the log and on a copy of its database taken before the third.
// Replayed here, on every machine, against the responses the real node gave: none invented.
const DIR = join(REPO_ROOT, 'test', 'vectors', 'bitcoind');
const policy = { ...DEFAULT_ANCHOR_POLICY, fallbackFeeRate: 2, stuckBlocks: 2, pollSec: 1 };
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * A log rebuilt round by round from a recording (anchor-NAME.jsonl and its .checkpoints.json):
 * the checkpoints each version covers go in before it is built, and the anchorer is served the
 * recorded exchanges of the steps the daemon was in.
 */
function replayedLog(name: string) {
  const exchanges = loadRecording(join(DIR, `anchor-${name}.jsonl`));
  const recorded = JSON.parse(readFileSync(join(DIR, `anchor-${name}.checkpoints.json`), 'utf8')) as {
    checkpoints: { idx: number; time_us: number; bytes: string }[];
    versions: Record<string, number[]>;
  };
  const tmp = mkdtempSync(join(tmpdir(), `immutalog-${name}-replay-`));
  const dbPath = join(tmp, 'log.sqlite');
  const store = LogStore.open(dbPath, { create: true });
  const cookie = `__cookie__:${'ab'.repeat(32)}`;
  const cookieFile = join(tmp, 'cookie');
  writeFileSync(cookieFile, cookie);
  afterAll(() => {
    store.close();
    rmSync(tmp, { recursive: true, force: true });
  });
  const result = (step: string, method: string): any => (exchanges.find((x) => x.step === step && x.request.method === method)!.response as { result: unknown }).result;
  const inserted = new Set<number>();
  return {
    exchanges, tmp, dbPath, store, cookie, cookieFile, result,
    /** The txid the daemon broadcast first in a step. */
    sent: (step: string): string => result(step, 'sendrawtransaction'),
    /** The checkpoints a version covers, as they were in the log when the daemon built it. */
    checkpointsOf(txid: string): void {
      for (const idx of recorded.versions[txid] ?? []) {
        if (inserted.has(idx)) continue;
        const c = recorded.checkpoints.find((x) => x.idx === idx)!;
        store.checkpoints.insert({ idx: c.idx, time_us: c.time_us, bytes: Buffer.from(c.bytes, 'hex') });
        inserted.add(idx);
      }
    },
    /** The anchorer over the exchanges of some steps; `rounds` polls (and rounds) in a row, as the daemon's timer made them. */
    async phase(steps: string[], mode: 'ordered' | 'any', rounds = 1): Promise<{ mismatches: unknown[]; anchorer: Anchorer }> {
      const srv = await startReplay({ exchanges: exchanges.filter((x) => steps.includes(x.step)), cookie, mode });
      try {
        const anchorer = new Anchorer(connectAnchorNode({ url: srv.url, cookieFile, wallet: 'immutalog' }), store, policy, quiet);
        for (let i = 0; i < rounds; i++) {
          try {
            await anchorer.roundNow();
          } catch (e) {
            // An anchor in flight: the poll ran, the round waits (as the daemon's timer does).
            if (!(e instanceof AnchorRoundError && e.kind === 'busy')) throw e;
          }
        }
        return { mismatches: srv.mismatches, anchorer };
      } finally {
        await srv.close();
      }
    },
    /** verify's chain check of `on` against the exchanges of one step. */
    async verifyChain(step: string, on: LogStore, bundle = false) {
      const srv = await startReplay({ exchanges: exchanges.filter((x) => x.step === step), cookie, mode: 'any' });
      try {
        const failures: Failure[] = [];
        const chain = await checkAnchorChain(on, connectChainReader({ url: srv.url, cookieFile }), { bundle }, (f) => failures.push(f));
        return { chain, failures, mismatches: srv.mismatches, methods: srv.served.map((x) => x.method) };
      } finally {
        await srv.close();
      }
    },
  };
}

const txOf = (hex: string) => parseTransaction(Buffer.from(hex, 'hex'));
const changeOf = (store: LogStore, id: number) => {
  const a = store.anchors.get(id)!;
  return { txid: a.txid, vout: chainOutputOf(txOf(a.tx_hex))!.vout };
};

describe('a chain of anchors replayed from a real node, and a rolled-back copy of its database', () => {
  const { store, dbPath, tmp, result, sent, checkpointsOf, phase, verifyChain } = replayedLog('chain');
  const copyPath = join(tmp, 'rolled-back.sqlite');

  it('anchor 1 spends a wallet coin; anchor 2, built once 1 is mined, spends its change', async () => {
    checkpointsOf(sent('anchor --now (1)'));
    const r1 = await phase(['anchor --now (1)'], 'ordered');
    expect(r1.mismatches).toEqual([]);
    expect(r1.anchorer.status.chain).toEqual({ spentChangeOf: null, breakReason: null });
    expect(store.anchors.get(1)!.txid).toBe(sent('anchor --now (1)'));
    expect((await phase(['poll until anchor 1 is mined'], 'any')).mismatches).toEqual([]);
    expect(store.anchors.get(1)!.state).toBe('mined');

    checkpointsOf(sent('anchor --now (2)'));
    const r2 = await phase(['anchor --now (2)'], 'ordered');
    expect(r2.mismatches).toEqual([]);
    expect(r2.anchorer.status.chain).toEqual({ spentChangeOf: 1, breakReason: null });
    const a2 = store.anchors.get(2)!;
    expect(a2.txid).toBe(sent('anchor --now (2)'));
    expect(spends(txOf(a2.tx_hex), changeOf(store, 1))).toBe(true);
    expect((await phase(['poll until anchor 2 is mined'], 'any')).mismatches).toEqual([]);
    expect(store.anchors.get(2)!.state).toBe('mined');
  });

  it('anchor 3 spends the change of 2, and so does its replace-by-fee replacement, which is mined', async () => {
    // The rollback's copy: the database as it was before anchor 3.
    const db = new Database(dbPath, { readonly: true });
    try {
      db.exec(`VACUUM INTO '${copyPath}'`);
    } finally {
      db.close();
    }
    checkpointsOf(sent('anchor --now (3)'));
    const r3 = await phase(['anchor --now (3)'], 'ordered');
    expect(r3.mismatches).toEqual([]);
    expect(r3.anchorer.status.chain).toEqual({ spentChangeOf: 2, breakReason: null });
    const bumped = result('two empty blocks: anchor 3 is bumped', 'bumpfee').txid as string;
    checkpointsOf(bumped);
    const r = await phase(['two empty blocks: anchor 3 is bumped', 'mine anchor 3', 'poll until anchor 3 is mined'], 'ordered', 2);
    expect(r.mismatches).toEqual([]);
    const versions = store.anchors.versions(3);
    expect(versions.map((v) => v.txid)).toEqual([sent('anchor --now (3)'), bumped]);
    for (const v of versions) expect(spends(txOf(v.tx_hex), changeOf(store, 2))).toBe(true);
    const a3 = store.anchors.get(3)!;
    expect([a3.state, a3.txid]).toEqual(['mined', bumped]);
  });

  it("verify: the log's three anchors form one chain and the newest change is unspent", async () => {
    const v = await verifyChain('verify the log', store);
    expect(v.mismatches).toEqual([]);
    expect(v.failures).toEqual([]);
    expect(v.chain).toEqual({ checkedAgainstNode: true, anchors: 3, links: 2, breaks: [], ahead: [] });
  });

  it('verify: the copy from before anchor 3 fails with ANCHOR_CHAIN_AHEAD, naming anchor 3 by following the spend; as a bundle it is reported, not failed', async () => {
    const copy = LogStore.open(copyPath, { create: false, readonly: true });
    try {
      const v = await verifyChain('verify the rolled-back copy', copy);
      expect(v.mismatches).toEqual([]);
      const a3 = store.anchors.get(3)!;
      expect(v.chain.ahead).toEqual([{ after: 2, anchors: 1, complete: true, newest: { txid: a3.txid, height: a3.block_height }, stoppedBecause: null, rejoins: null }]);
      expect(v.failures.map((f) => f.code)).toEqual(['ANCHOR_CHAIN_AHEAD']);
      expect(v.failures[0]!.actual).toContain(a3.txid);
      expect(v.failures[0]!.checkpoint).toBe(Math.max(...copy.anchors.checkpointsOf(2)));
      // The same answers for a bundle: its newest change spent later is what a copy of its day shows.
      const b = await verifyChain('verify the rolled-back copy', copy, true);
      expect(b.failures).toEqual([]);
      expect(b.chain.ahead).toEqual(v.chain.ahead);
    } finally {
      copy.close();
    }
  });

  it('verify: while anchor 3 was still in the mempool the copy failed the same way, its spender found in the mempool', async () => {
    const copy = LogStore.open(copyPath, { create: false, readonly: true });
    try {
      const v = await verifyChain('verify the rolled-back copy while anchor 3 is in the mempool', copy);
      expect(v.mismatches).toEqual([]);
      expect(v.methods).toContain('gettxspendingprevout');
      const bumped = result('two empty blocks: anchor 3 is bumped', 'bumpfee').txid as string;
      expect(v.chain.ahead).toEqual([{ after: 2, anchors: 1, complete: true, newest: { txid: bumped, height: null }, stoppedBecause: null, rejoins: null }]);
      expect(v.failures.map((f) => [f.code, f.actual])).toEqual([['ANCHOR_CHAIN_AHEAD', expect.stringContaining(`${bumped} in the mempool`)]]);
    } finally {
      copy.close();
    }
  });

  it('without a node: the links the stored transactions show, nothing asked, nothing failed', async () => {
    const copy = LogStore.open(copyPath, { create: false, readonly: true });
    try {
      const failures: Failure[] = [];
      const chain = await checkAnchorChain(copy, undefined, { bundle: false }, (f) => failures.push(f));
      expect(failures).toEqual([]);
      expect(chain).toEqual({ checkedAgainstNode: false, anchors: 2, links: 1, breaks: [], ahead: [] });
    } finally {
      copy.close();
    }
  });
});

describe('an anchor in flight whose input the wallet spent elsewhere, replayed from a real node', () => {
  const { store, exchanges, sent, checkpointsOf, phase, verifyChain } = replayedLog('rebuild');

  it('is rebuilt for the same tree from a wallet coin (the chain breaks, and says why), and the new transaction is mined', async () => {
    checkpointsOf(sent('anchor --now (1)'));
    expect((await phase(['anchor --now (1)'], 'ordered')).mismatches).toEqual([]);
    expect((await phase(['poll until anchor 1 is mined'], 'any')).mismatches).toEqual([]);
    checkpointsOf(sent('anchor --now (2)'));
    expect((await phase(['anchor --now (2)'], 'ordered')).mismatches).toEqual([]);
    const first = store.anchors.get(2)!;
    expect(spends(txOf(first.tx_hex), changeOf(store, 1))).toBe(true);
    const proofs = store.anchors.checkpointsOf(2);

    const r = await phase(['poll until anchor 2 is rebuilt', 'mine anchor 2', 'poll until anchor 2 is mined'], 'ordered', 3);
    expect(r.mismatches).toEqual([]);
    const rebuilt = sent('poll until anchor 2 is rebuilt');
    expect(store.anchors.versions(2).map((v) => v.txid)).toEqual([first.txid, rebuilt]);
    expect(r.anchorer.status.chain).toEqual({ spentChangeOf: null, breakReason: expect.stringContaining(`${changeOf(store, 1).txid}:${changeOf(store, 1).vout}) is already spent`) });
    const a2 = store.anchors.get(2)!;
    expect([a2.state, a2.txid, Buffer.from(a2.root).equals(Buffer.from(first.root))]).toEqual(['mined', rebuilt, true]);
    expect(spends(txOf(a2.tx_hex), changeOf(store, 1))).toBe(false);
    expect(store.anchors.checkpointsOf(2)).toEqual(proofs);
  });

  it('verify accepts the break: the change of anchor 1 went to a transaction that is not an anchor', async () => {
    const v = await verifyChain('verify the log', store);
    expect(v.mismatches).toEqual([]);
    expect(v.failures).toEqual([]);
    // The spender, as the node's blocks show it: the wallet's transaction, not an anchor.
    const c1 = changeOf(store, 1);
    const blocks = exchanges.filter((x) => x.step === 'verify the log' && x.request.method === 'getblock').map((x) => (x.response as { result: { tx: { txid: string; vin: { txid?: string; vout?: number }[] }[] } }).result);
    const elsewhere = blocks.flatMap((b) => b.tx).find((t) => t.vin.some((i) => i.txid === c1.txid && i.vout === c1.vout))!.txid;
    expect(v.chain).toEqual({ checkedAgainstNode: true, anchors: 2, links: 0, breaks: [{ anchor: 2, why: `the change of anchor 1 was spent by ${elsewhere}, which is not an anchor` }], ahead: [] });
  });
});
