// `immutalog export-ots` (and the bundle's ots_proofs table) over an anchor round recorded from a
// real Bitcoin Core (test/vectors/bitcoind/anchor-worker-round.*): the real anchorer replays the
// round against the recorded responses into a real data directory, the real CLI writes the
// proofs, and Debian's python3-opentimestamps (test/clients/ots_verify.py, none of our code)
// reads each one, replays it from the checkpoint's hash and checks it against the recorded block
// header. The same check against a live regtest node is in anchor-regtest.test.ts.
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Anchorer } from '../../src/anchor/anchorer.js';
import { DEFAULT_ANCHOR_POLICY } from '../../src/anchor/policy.js';
import { connectAnchorNode } from '../../src/bitcoind/writer.js';
import { dataPaths } from '../../src/log/data-dir.js';
import { LogStore } from '../../src/store/log-store.js';
import { needClients } from '../clients/available.js';
import { otsVerify, type OtsCase } from '../clients/ots.js';
import { run } from '../clients/proc.js';
import { CLI, REPO_ROOT } from '../helpers/paths.js';
import { loadRecording, startReplay } from '../helpers/rpc-replay.js';

const py = needClients('python3-opentimestamps');
const DIR = join(REPO_ROOT, 'test', 'vectors', 'bitcoind');
const exchanges = loadRecording(join(DIR, 'anchor-worker-round.jsonl'));
const checkpoints = (JSON.parse(readFileSync(join(DIR, 'anchor-worker-round.checkpoints.json'), 'utf8')) as { checkpoints: { idx: number; time_us: number; bytes: string }[] }).checkpoints;
const VEC = JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'vectors', 'ots', 'ots-v1.json'), 'utf8')) as {
  recorded_round: { height: number; block_hash: string; proofs: { checkpoint: number; ots: string }[] };
};
/** The block header as the node gave it (getblockheader <hash> false). */
const HEADER = (exchanges.find((x) => x.request.method === 'getblockheader' && x.request.params[1] === false)!.response as { result: string }).result;
const policy = { ...DEFAULT_ANCHOR_POLICY, fallbackFeeRate: 2, stuckBlocks: 2, pollSec: 1 };
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const N = checkpoints.length;

async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await run(process.execPath, [CLI, ...args], { timeoutMs: 60_000 });
  return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr };
}

/**
 * A data directory holding the recorded round's checkpoints, and `phase`, which serves steps of
 * the recording to the real anchorer over it (the anchorer keeps its state in the database).
 */
function recordedDataDir(prefix: string): { tmp: () => string; dataDir: () => string; store: { current: LogStore }; phase: (steps: string[], mode: 'ordered' | 'any') => Promise<void> } {
  let tmp = '';
  const store = { current: undefined as unknown as LogStore };
  const cookie = `__cookie__:${'ab'.repeat(32)}`;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), prefix));
    mkdirSync(join(tmp, 'data'));
    store.current = LogStore.open(dataPaths(join(tmp, 'data')).database, { create: true });
    for (const c of checkpoints) store.current.checkpoints.insert({ idx: c.idx, time_us: c.time_us, bytes: Buffer.from(c.bytes, 'hex') });
    writeFileSync(join(tmp, 'cookie'), cookie);
  });
  afterAll(() => {
    store.current?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });
  async function phase(steps: string[], mode: 'ordered' | 'any'): Promise<void> {
    const srv = await startReplay({ exchanges: exchanges.filter((x) => steps.includes(x.step)), cookie, mode });
    try {
      await new Anchorer(connectAnchorNode({ url: srv.url, cookieFile: join(tmp, 'cookie'), wallet: 'immutalog' }), store.current, policy, quiet).roundNow();
      expect(srv.mismatches).toEqual([]);
    } finally {
      await srv.close();
    }
  }
  return { tmp: () => tmp, dataDir: () => join(tmp, 'data'), store, phase };
}

describe('export-ots over a recorded anchor round, checked by python3-opentimestamps', () => {
  const log = recordedDataDir('immutalog-export-ots-');
  const phase = log.phase;
  let tmp: string;
  let dataDir: string;
  let store: LogStore;
  beforeAll(() => {
    tmp = log.tmp();
    dataDir = log.dataDir();
    store = log.store.current;
  });

  const outDir = (name: string): string => join(tmp, name);
  const exportOts = (out: string, ...args: string[]) => cli(['export-ots', '--data-dir', dataDir, '--out', out, ...args]);
  const casesIn = (dir: string, header = HEADER): OtsCase[] =>
    checkpoints.map((c) => ({ ots: join(dir, `checkpoint-${c.idx}.bin.ots`), target: join(dir, `checkpoint-${c.idx}.bin`), header }));

  it('refuses, exit 2, what has no proof yet: a checkpoint not anchored, one that does not exist, and bad arguments', async () => {
    const one = await exportOts(outDir('none'), '--checkpoint', '3');
    expect([one.code, one.stderr.trim()]).toEqual([2, 'immutalog: checkpoint 3 is not anchored yet: it waits for the next anchor round (`immutalog anchor --now` runs one)']);
    const all = await exportOts(outDir('none'), '--all');
    expect([all.code, all.stdout.trim()]).toEqual([0, `wrote 0 proofs to ${outDir('none')} (checkpoint-N.bin and checkpoint-N.bin.ots); not yet provable: ${N} not anchored, 0 anchored but not mined`]);
    const missing = await exportOts(outDir('none'), '--checkpoint', String(N + 5));
    expect([missing.code, missing.stderr.trim()]).toEqual([2, `immutalog: checkpoint ${N + 5} does not exist (expected one of 0..${N - 1})`]);
    for (const bad of [[], ['--all', '--checkpoint', '1']]) {
      const r = await exportOts(outDir('none'), ...bad);
      expect([r.code, r.stderr.trim()]).toEqual([2, 'immutalog: export-ots: expected exactly one of --checkpoint N and --all']);
    }
    const notNumber = await exportOts(outDir('none'), '--checkpoint', '1x');
    expect([notNumber.code, notNumber.stderr.trim()]).toEqual([2, 'immutalog: --checkpoint: expected a checkpoint index (0, 1, ...), got "1x"']);
    expect(readdirSync(outDir('none'))).toEqual([]);
  });

  it('an anchored checkpoint whose transaction is not mined yet: exit 2, no file', async () => {
    await phase(['daemon start', 'anchor --now'], 'ordered');
    const txid = store.anchors.get(1)!.txid;
    const one = await exportOts(outDir('unmined'), '--checkpoint', '3');
    expect([one.code, one.stderr.trim()]).toEqual([2, `immutalog: checkpoint 3 is anchored by anchor 1 (tx ${txid}, broadcast), which is not mined yet: try again once \`immutalog status\` shows it mined`]);
    const all = await exportOts(outDir('unmined'), '--all');
    expect([all.code, all.stdout.trim()]).toEqual([0, `wrote 0 proofs to ${outDir('unmined')} (checkpoint-N.bin and checkpoint-N.bin.ots); not yet provable: 0 not anchored, ${N} anchored but not mined`]);
    expect(readdirSync(outDir('unmined'))).toEqual([]);
  });

  it('once mined, --all writes every checkpoint and its proof, the bytes python-opentimestamps wrote for them (test/vectors/ots)', async () => {
    await phase(['poll until mined'], 'any');
    expect(store.anchors.get(1)!.state).toBe('mined');
    const r = await exportOts(outDir('mined'), '--all');
    expect([r.code, r.stdout.trim(), r.stderr]).toEqual([0, `wrote ${N} proofs to ${outDir('mined')} (checkpoint-N.bin and checkpoint-N.bin.ots); not yet provable: 0 not anchored, 0 anchored but not mined`, '']);
    expect(readdirSync(outDir('mined')).length).toBe(2 * N);
    for (const c of checkpoints) {
      expect(readFileSync(join(outDir('mined'), `checkpoint-${c.idx}.bin`)).toString('hex')).toBe(c.bytes);
      const want = VEC.recorded_round.proofs.find((p) => p.checkpoint === c.idx)!.ots;
      expect(readFileSync(join(outDir('mined'), `checkpoint-${c.idx}.bin.ots`)).toString('hex'), `checkpoint ${c.idx}`).toBe(want);
    }
    const one = await exportOts(outDir('one'), '--checkpoint', '7');
    expect([one.code, one.stdout.trim()]).toEqual([0, `wrote ${join(outDir('one'), 'checkpoint-7.bin.ots')} (checkpoint 7, anchor 1, tx ${store.anchors.get(1)!.txid}, block ${VEC.recorded_round.height} ${VEC.recorded_round.block_hash})`]);
    expect(readdirSync(outDir('one')).sort()).toEqual(['checkpoint-7.bin', 'checkpoint-7.bin.ots']);
  });

  py.it('python3-opentimestamps reads every proof, replays it from the checkpoint and finds the recorded block header merkle root', async () => {
    const results = await otsVerify(casesIn(outDir('mined')));
    expect(results).toHaveLength(N);
    const blockTime = Buffer.from(HEADER, 'hex').readUInt32LE(68);
    for (const r of results) {
      expect(r, r.ots).toEqual({ ots: r.ots, deserialized: true, digest_matches: true, height: VEC.recorded_round.height, merkle_root_matches: true, time: blockTime, error: null });
    }
  });

  py.it('a checkpoint altered by one byte fails: its bytes do not match the proof, and a proof forged from its hash misses the merkle root', async () => {
    const dir = outDir('altered');
    mkdirSync(dir);
    const src = outDir('mined');
    const bytes = readFileSync(join(src, 'checkpoint-3.bin'));
    const altered = Buffer.from(bytes);
    altered[100]! ^= 0x01;
    writeFileSync(join(dir, 'checkpoint-3.bin'), altered);
    const ots = readFileSync(join(src, 'checkpoint-3.bin.ots'));
    // The file digest sits after the 31-byte magic, the version and the sha256 tag.
    expect(ots.subarray(33, 65).equals(createHash('sha256').update(bytes).digest())).toBe(true);
    const forged = Buffer.from(ots);
    createHash('sha256').update(altered).digest().copy(forged, 33);
    writeFileSync(join(dir, 'checkpoint-3.bin.ots'), ots);
    writeFileSync(join(dir, 'forged.bin.ots'), forged);
    const [asIs, fromAltered] = await otsVerify([
      { ots: join(dir, 'checkpoint-3.bin.ots'), target: join(dir, 'checkpoint-3.bin'), header: HEADER },
      { ots: join(dir, 'forged.bin.ots'), target: join(dir, 'checkpoint-3.bin'), header: HEADER },
    ]);
    expect([asIs!.deserialized, asIs!.digest_matches, asIs!.merkle_root_matches]).toEqual([true, false, true]);
    expect([fromAltered!.deserialized, fromAltered!.digest_matches, fromAltered!.merkle_root_matches]).toEqual([true, true, false]);
    expect(fromAltered!.error).toBe('VerificationError: Digest does not match merkleroot');
  });

  py.it('the bundle carries the proofs (table ots_proofs), which python3-opentimestamps checks with only the bundle', async () => {
    await phase(['poll until final'], 'any');
    expect(store.anchors.get(1)!.state).toBe('final');
    const bundle = join(tmp, 'round.bundle');
    const r = await cli(['export', '--data-dir', dataDir, '--out', bundle]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`and ${N} OpenTimestamps proofs (table ots_proofs), to ${bundle}`);
    const dir = outDir('from-bundle');
    mkdirSync(dir);
    const db = new Database(bundle, { readonly: true });
    try {
      const rows = db.prepare('SELECT p.checkpoint, p.ots, c.bytes FROM ots_proofs p JOIN checkpoints c ON c.idx = p.checkpoint ORDER BY p.checkpoint').all() as { checkpoint: number; ots: Buffer; bytes: Buffer }[];
      expect(rows.map((x) => x.checkpoint)).toEqual(checkpoints.map((c) => c.idx));
      for (const x of rows) {
        expect(x.ots.equals(readFileSync(join(outDir('mined'), `checkpoint-${x.checkpoint}.bin.ots`)))).toBe(true);
        writeFileSync(join(dir, `checkpoint-${x.checkpoint}.bin.ots`), x.ots);
        writeFileSync(join(dir, `checkpoint-${x.checkpoint}.bin`), x.bytes);
      }
    } finally {
      db.close();
    }
    const results = await otsVerify(casesIn(dir));
    expect(results.map((x) => [x.digest_matches, x.merkle_root_matches, x.error])).toEqual(checkpoints.map(() => [true, true, null]));
  });

  it('a database whose checkpoint was altered: no proof is written for it, exit 1 naming it', async () => {
    store.close();
    const db = new Database(dataPaths(dataDir).database);
    try {
      const row = db.prepare('SELECT bytes FROM checkpoints WHERE idx = 3').get() as { bytes: Buffer };
      row.bytes[100]! ^= 0x01;
      db.prepare('UPDATE checkpoints SET bytes = ? WHERE idx = 3').run(row.bytes);
    } finally {
      db.close();
    }
    store = LogStore.open(dataPaths(dataDir).database, { create: false, readonly: true });
    log.store.current = store;
    const one = await exportOts(outDir('tampered'), '--checkpoint', '3');
    expect(one.code).toBe(1);
    expect(one.stderr).toMatch(/^immutalog: checkpoint 3: anchor 1: the proof leads to [0-9a-f]{64}, but the transaction's OP_RETURN carries [0-9a-f]{64} \(the database is damaged or altered: run `immutalog verify`\)\n$/);
    const all = await exportOts(outDir('tampered'), '--all');
    expect(all.code).toBe(1);
    expect(all.stdout.trim()).toBe(`wrote ${N - 1} proofs to ${outDir('tampered')} (checkpoint-N.bin and checkpoint-N.bin.ots); not yet provable: 0 not anchored, 0 anchored but not mined; 1 left out: their anchor data do not hold together (above)`);
    expect(readdirSync(outDir('tampered'))).not.toContain('checkpoint-3.bin.ots');
  });
});

// Replace-by-fee: the anchor's newest version covers only checkpoint 0 (so the others lose their
// proofs and wait), but the node mines the first version, which covers all of them. The proofs
// must be those of the mined version (anchors.adoptMinedVersion), and python3-opentimestamps
// must find the block's merkle root through that version's transaction.
describe('export-ots after a replacement: the mined version decides', () => {
  const log = recordedDataDir('immutalog-export-ots-rbf-');

  py.it("before mining only the replacement's checkpoint is anchored; once the first version is mined all proofs are its", async () => {
    await log.phase(['daemon start', 'anchor --now'], 'ordered');
    const store = log.store.current;
    const first = store.anchors.get(1)!;
    const p0 = store.anchors.proofOf(checkpoints[0]!.idx)!;
    store.anchors.addVersion(
      1,
      { txid: 'ee'.repeat(32), tx_hex: first.tx_hex, root: Buffer.alloc(32, 1), tree_size: 1, fee_sats: first.fee_sats + 1, fee_rate: first.fee_rate + 1, vsize: first.vsize, at_us: first.created_at_us + 1_000_000 },
      [{ checkpoint: p0.checkpoint, leaf_index: 0, tree_size: 1, path: Buffer.alloc(0) }],
    );
    const out = join(log.tmp(), 'out');
    const before = await cli(['export-ots', '--data-dir', log.dataDir(), '--out', out, '--all']);
    expect(before.stdout).toContain(`not yet provable: ${N - 1} not anchored, 1 anchored but not mined`);

    await log.phase(['poll until mined'], 'any');
    expect([store.anchors.get(1)!.state, store.anchors.get(1)!.txid]).toEqual(['mined', first.txid]);
    const after = await cli(['export-ots', '--data-dir', log.dataDir(), '--out', out, '--all']);
    expect([after.code, after.stderr]).toEqual([0, '']);
    expect(after.stdout).toContain(`wrote ${N} proofs`);
    for (const c of checkpoints) {
      expect(readFileSync(join(out, `checkpoint-${c.idx}.bin.ots`)).toString('hex')).toBe(VEC.recorded_round.proofs.find((p) => p.checkpoint === c.idx)!.ots);
    }
    const results = await otsVerify(checkpoints.map((c) => ({ ots: join(out, `checkpoint-${c.idx}.bin.ots`), target: join(out, `checkpoint-${c.idx}.bin`), header: HEADER })));
    expect(results.map((x) => [x.digest_matches, x.merkle_root_matches, x.error])).toEqual(checkpoints.map(() => [true, true, null]));
  });
});
