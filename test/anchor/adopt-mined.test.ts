// When an anchor's transaction is mined, the mined version's proofs become the anchor's and the
// anchor row records the block: the two writes must land together. A crash between them would
// leave the proofs of one version under a row naming another. The failure is injected in the
// second write by a trigger in the database file (no hook in the code), on a round recorded from
// a real node (test/anchor/worker-replay.test.ts).
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AnchorWorker } from '../../src/anchor/anchorer.js';
import { DEFAULT_ANCHOR_POLICY } from '../../src/anchor/policy.js';
import { connectBitcoind } from '../../src/bitcoind/client.js';
import { LogStore } from '../../src/store/log-store.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { loadRecording, startReplay } from '../helpers/rpc-replay.js';

const DIR = join(REPO_ROOT, 'test', 'vectors', 'bitcoind');
const exchanges = loadRecording(join(DIR, 'anchor-worker-round.jsonl'));
const checkpoints = JSON.parse(readFileSync(join(DIR, 'anchor-worker-round.checkpoints.json'), 'utf8')).checkpoints as { idx: number; time_us: number; bytes: string }[];
const policy = { ...DEFAULT_ANCHOR_POLICY, fallbackFeeRate: 2, stuckBlocks: 2, pollSec: 1 };
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('adopting the mined version of an anchor', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'immutalog-adopt-mined-'));
  const dbPath = join(tmp, 'log.sqlite');
  const store = LogStore.open(dbPath, { create: true });
  for (const c of checkpoints) store.checkpoints.insert({ idx: c.idx, time_us: c.time_us, bytes: Buffer.from(c.bytes, 'hex') });
  const cookie = `__cookie__:${'ab'.repeat(32)}`;
  writeFileSync(join(tmp, 'cookie'), cookie);
  afterAll(() => {
    store.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  async function phase(steps: string[], mode: 'ordered' | 'any'): Promise<unknown[]> {
    const srv = await startReplay({ exchanges: exchanges.filter((x) => steps.includes(x.step)), cookie, mode });
    try {
      await new AnchorWorker(connectBitcoind({ url: srv.url, cookieFile: join(tmp, 'cookie'), wallet: 'immutalog' }), store, policy, quiet).roundNow();
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
