import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Anchorer } from '../../src/anchor/anchorer.js';
import { DEFAULT_ANCHOR_POLICY } from '../../src/anchor/policy.js';
import { connectChainReader } from '../../src/bitcoind/reader.js';
import { connectAnchorNode } from '../../src/bitcoind/writer.js';
import { checkpointHash } from '../../src/checkpoint/format.js';
import { LogStore } from '../../src/store/log-store.js';
import { AnchorChecker } from '../../src/verify/anchors.js';
import type { Failure } from '../../src/verify/failures.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { loadRecording, startReplay } from '../helpers/rpc-replay.js';

// A round of the real anchorer recorded against Bitcoin Core v30.99 in regtest
// (test/integration/anchor-regtest.test.ts with IMMUTALOG_RECORD_RPC=1), with the checkpoints it
// anchored. Replaying it runs the anchorer's whole lifecycle here, on every machine, against
// responses a real node gave — none invented.
const DIR = join(REPO_ROOT, 'test', 'vectors', 'bitcoind');
const exchanges = loadRecording(join(DIR, 'anchor-worker-round.jsonl'));
const checkpoints = JSON.parse(readFileSync(join(DIR, 'anchor-worker-round.checkpoints.json'), 'utf8')).checkpoints as { idx: number; time_us: number; bytes: string }[];
const policy = { ...DEFAULT_ANCHOR_POLICY, fallbackFeeRate: 2, stuckBlocks: 2, pollSec: 1 };
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A log holding the recorded round's checkpoints, and the node's cookie, removed after the describe. */
function recordedCheckpointLog(prefix: string): { tmp: string; dbPath: string; store: LogStore; cookie: string } {
  const tmp = mkdtempSync(join(tmpdir(), prefix));
  const dbPath = join(tmp, 'log.sqlite');
  const store = LogStore.open(dbPath, { create: true });
  for (const c of checkpoints) store.checkpoints.insert({ idx: c.idx, time_us: c.time_us, bytes: Buffer.from(c.bytes, 'hex') });
  const cookie = `__cookie__:${'ab'.repeat(32)}`;
  writeFileSync(join(tmp, 'cookie'), cookie);
  afterAll(() => {
    store.close();
    rmSync(tmp, { recursive: true, force: true });
  });
  return { tmp, dbPath, store, cookie };
}

describe('the anchorer replaying a round recorded from a real node', () => {
  const { tmp, store, cookie } = recordedCheckpointLog('immutalog-anchorer-replay-');

  /** One phase of the recording served to a fresh anchorer (it keeps its state in SQLite). */
  async function phase(steps: string[], mode: 'ordered' | 'any', drive: (w: Anchorer) => Promise<unknown>): Promise<{ result: unknown; mismatches: unknown[] }> {
    const srv = await startReplay({ exchanges: exchanges.filter((x) => steps.includes(x.step)), cookie, mode });
    try {
      const w = new Anchorer(connectAnchorNode({ url: srv.url, cookieFile: join(tmp, 'cookie'), wallet: 'immutalog' }), store, policy, quiet);
      return { result: await drive(w), mismatches: srv.mismatches };
    } finally {
      await srv.close();
    }
  }

  it('anchor --now: one transaction for every pending checkpoint, requests exactly as recorded', async () => {
    const a = await phase(['daemon start', 'anchor --now'], 'ordered', (w) => w.roundNow());
    expect(a.mismatches).toEqual([]);
    const sent = exchanges.find((x) => x.request.method === 'sendrawtransaction')!;
    const row = store.anchors.get(1)!;
    expect(row.txid).toBe((sent.response as { result: string }).result);
    expect(row.tree_size).toBe(checkpoints.length);
    expect(row.state).toBe('broadcast');
    // Every checkpoint has its proof; none waits.
    expect(store.anchors.unanchoredCheckpoints(1000)).toEqual([]);
  });

  it('polls it to mined (block, branch checked against the header) and then to final', async () => {
    const b = await phase(['poll until mined'], 'any', (w) => w.roundNow());
    expect(b.mismatches).toEqual([]);
    const mined = store.anchors.get(1)!;
    expect(mined.state).toBe('mined');
    expect(mined.block_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(mined.branch!.length % 32).toBe(0);
    const c = await phase(['poll until final'], 'any', (w) => w.roundNow());
    expect(c.mismatches).toEqual([]);
    expect(store.anchors.get(1)!.state).toBe('final');
  });

  it('verify checks every checkpoint up to the recorded block header, and names a checkpoint that is not what was anchored', async () => {
    const srv = await startReplay({ exchanges: exchanges.filter((x) => x.step === 'verify (final)'), cookie, mode: 'any' });
    try {
      const node = connectChainReader({ url: srv.url, cookieFile: join(tmp, 'cookie') });
      const failures: Failure[] = [];
      const checker = new AnchorChecker(store, node, Date.now() * 1000, (f) => failures.push(f));
      for (const c of checkpoints) await checker.check(c.idx, checkpointHash(Buffer.from(c.bytes, 'hex')), c.time_us);
      expect(failures).toEqual([]);
      expect(checker.summary.checkpointsByState.final).toBe(checkpoints.length);
      expect(srv.mismatches).toEqual([]);

      // A checkpoint whose bytes (hence hash) differ from what was anchored is named.
      const altered = store.anchors.proofOf(3)!;
      const bad: Failure[] = [];
      const again = new AnchorChecker(store, undefined, Date.now() * 1000, (f) => bad.push(f));
      const wrongHash = Buffer.alloc(32, 7);
      await again.check(altered.checkpoint, wrongHash, 0);
      expect(bad.map((f) => [f.code, f.checkpoint])).toEqual([['ANCHOR_PROOF_INVALID', 3]]);
    } finally {
      await srv.close();
    }
  });
});

// When an anchor's transaction is mined, the mined version's proofs become the anchor's and the
// anchor row records the block: the two writes must land together, or a crash between them
// leaves the proofs of one version under a row that names another. The failure is injected in
// the second write by a trigger in the database file (no hook in the code).
describe('adopting the mined version of an anchor', () => {
  const { tmp, dbPath, store, cookie } = recordedCheckpointLog('immutalog-adopt-mined-');

  async function phase(steps: string[], mode: 'ordered' | 'any'): Promise<unknown[]> {
    const srv = await startReplay({ exchanges: exchanges.filter((x) => steps.includes(x.step)), cookie, mode });
    try {
      await new Anchorer(connectAnchorNode({ url: srv.url, cookieFile: join(tmp, 'cookie'), wallet: 'immutalog' }), store, policy, quiet).roundNow();
      return srv.mismatches;
    } finally {
      await srv.close();
    }
  }

  /** Runs SQL on the database file through a connection of the test's own. */
  function onFile(sql: string): void {
    const db = new Database(dbPath);
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
  }

  it('rolls the proofs back when recording the block fails, and adopts them on the next poll', async () => {
    expect(await phase(['daemon start', 'anchor --now'], 'ordered')).toEqual([]);
    const all = checkpoints.map((c) => c.idx);
    const first = store.anchors.get(1)!;
    expect(store.anchors.checkpointsOf(1)).toEqual(all);

    // A later replacement that covers only the first checkpoint is the anchor's current version;
    // the recorded node mines the first version, which covers all of them.
    const fakeTxid = 'ee'.repeat(32);
    const p0 = store.anchors.proofOf(all[0]!)!;
    store.anchors.addVersion(
      1,
      { txid: fakeTxid, tx_hex: first.tx_hex, root: Buffer.alloc(32, 1), tree_size: 1, fee_sats: first.fee_sats + 1, fee_rate: first.fee_rate + 1, vsize: first.vsize, at_us: first.created_at_us + 1_000_000 },
      [{ checkpoint: p0.checkpoint, leaf_index: 0, tree_size: 1, path: Buffer.alloc(0) }],
    );
    expect(store.anchors.checkpointsOf(1)).toEqual([all[0]]);

    onFile("CREATE TRIGGER inject_crash BEFORE UPDATE ON anchors WHEN NEW.state = 'mined' BEGIN SELECT RAISE(ABORT, 'injected crash'); END");
    await expect(phase(['poll until mined'], 'any')).rejects.toThrow(/injected crash/);
    // Neither write landed: the row still names the replacement, and its proofs are still the anchor's.
    const after = store.anchors.get(1)!;
    expect([after.state, after.txid]).toEqual(['broadcast', fakeTxid]);
    expect(store.anchors.checkpointsOf(1)).toEqual([all[0]]);

    onFile('DROP TRIGGER inject_crash');
    expect(await phase(['poll until mined'], 'any')).toEqual([]);
    const mined = store.anchors.get(1)!;
    expect([mined.state, mined.txid]).toEqual(['mined', first.txid]);
    expect(store.anchors.checkpointsOf(1)).toEqual(all);
  });
});
