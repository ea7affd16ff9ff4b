// The anchorer against a REAL Bitcoin Core in regtest (test/helpers/bitcoind.ts): every
// scenario runs the real `immutalog serve` with --bitcoin-rpc/--bitcoin-cookie pointing at the
// node, drives it over loopback UDP and `immutalog anchor --now`, moves the chain with
// generatetoaddress / generateblock / invalidateblock / reconsiderblock, and checks the outcome
// with `immutalog status --json`, `immutalog verify --json --bitcoin-rpc ...` and read-only
// SQLite reads of anchors / anchor_txs / anchor_proofs.
//
// The node comes from IMMUTALOG_BITCOIND or `bitcoind` on PATH; without one the whole file skips.
// One node serves every scenario (each scenario has its own data directory and daemon, stopped
// at its end); scenario 6 tampers copies of scenario 1's data directory.
//
// With IMMUTALOG_RECORD_RPC=1, scenario 1's daemon (and its verify runs) talk to the node through
// a recording proxy (startRecordingProxy in test/helpers/bitcoind.ts): the exchanges are written
// to test/vectors/bitcoind/anchor-worker-round.jsonl and the checkpoints the round anchored to
// anchor-worker-round.checkpoints.json beside it. Without it nothing under test/ is written.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnchorRow } from '../../src/store/log-store.js';
import { findBitcoind, startRecordingProxy, startRegtest, type RecordingProxy, type RegtestNode } from '../helpers/bitcoind.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { needClients } from '../clients/available.js';
import { otsVerify } from '../clients/ots.js';
import { CLI, REPO_ROOT } from '../helpers/paths.js';

const BITCOIND = findBitcoind();
if (!BITCOIND) {
  const set = process.env.IMMUTALOG_BITCOIND;
  console.warn(
    `anchor-regtest: bitcoind not found: set IMMUTALOG_BITCOIND=/path/to/bitcoind (all scenarios skipped)` +
      (set ? `; IMMUTALOG_BITCOIND=${set} is not an executable file` : '; none on PATH either'),
  );
}
const RECORD = process.env.IMMUTALOG_RECORD_RPC === '1';
/** Scenario 2d checks export-ots's proofs with the stock OpenTimestamps library. */
const py = needClients('python3-opentimestamps');
const RECORDING_OUT = join(REPO_ROOT, 'test', 'vectors', 'bitcoind', 'anchor-worker-round.jsonl');
const RECORDING_CHECKPOINTS = join(REPO_ROOT, 'test', 'vectors', 'bitcoind', 'anchor-worker-round.checkpoints.json');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI as a child process, asynchronously (the recording proxy lives in this process). */
function cli(args: string[], timeoutMs = 150_000): Promise<CliResult> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function until<T>(what: string, fn: () => T | Promise<T>, cond: (v: T) => boolean, timeoutMs = 30_000, stepMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  let v = await fn();
  while (!cond(v)) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(v)?.slice(0, 600)}`);
    await sleep(stepMs);
    v = await fn();
  }
  return v;
}

async function sendUdp(port: number, texts: string[]): Promise<void> {
  const u = createSocket('udp4');
  for (const t of texts) {
    await new Promise<void>((r, j) => u.send(Buffer.from(t), port, '127.0.0.1', (e) => (e ? j(e) : r())));
    await sleep(2);
  }
  u.close();
}

const messages = (tag: string, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `<134>1 2026-11-26T14:00:00.000000Z host tacker-server 42 - - ${tag} message ${i}`);

interface AnchorTxRow {
  txid: string;
  anchor_id: number;
  tx_hex: string;
  fee_sats: number;
  fee_rate: number;
  created_at_us: number;
}

/** Read-only look at a data directory's database (the daemon may be writing). */
function withDb<T>(dataDir: string, fn: (db: Database.Database) => T, write = false): T {
  const db = new Database(join(dataDir, 'immutalog.sqlite'), { readonly: !write, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    return fn(db);
  } finally {
    db.close();
  }
}
const facts = (dir: string): { entries: number; checkpoints: number; anchors: AnchorRow[]; proofs: number; unanchored: number } =>
  withDb(dir, (db) => ({
    entries: (db.prepare('SELECT count(*) AS n FROM entries').get() as { n: number }).n,
    checkpoints: (db.prepare('SELECT count(*) AS n FROM checkpoints').get() as { n: number }).n,
    anchors: db.prepare('SELECT * FROM anchors ORDER BY id').all() as AnchorRow[],
    proofs: (db.prepare('SELECT count(*) AS n FROM anchor_proofs').get() as { n: number }).n,
    unanchored: (db.prepare('SELECT count(*) AS n FROM checkpoints c LEFT JOIN anchor_proofs p ON p.checkpoint = c.idx WHERE p.checkpoint IS NULL').get() as { n: number }).n,
  }));
const anchorRow = (dir: string, id: number): AnchorRow | undefined =>
  withDb(dir, (db) => db.prepare('SELECT * FROM anchors WHERE id = ?').get(id) as AnchorRow | undefined);
const dbCount = (dir: string, sql: string): number => withDb(dir, (db) => (db.prepare(sql).get() as { n: number }).n);
const anchorTxs = (dir: string, id: number): AnchorTxRow[] =>
  withDb(dir, (db) => db.prepare('SELECT * FROM anchor_txs WHERE anchor_id = ? ORDER BY created_at_us').all(id) as AnchorTxRow[]);

describe.skipIf(!BITCOIND)('anchoring in a real bitcoind (regtest)', () => {
  let node: RegtestNode;
  const daemons: RunningDaemon[] = [];
  let scratch: string;
  let recorder: RecordingProxy | undefined;

  beforeAll(async () => {
    const t0 = Date.now();
    scratch = mkdtempSync(join(tmpdir(), 'immutalog-anchor-regtest-'));
    node = await startRegtest({ bitcoind: BITCOIND! });
    console.log(`[anchor-regtest] bitcoind regtest up, wallet funded (101 blocks) in ${Date.now() - t0} ms`);
  });

  afterAll(async () => {
    // Every daemon is stopped and its data directory removed here (the exit hook of
    // helpers/daemon.ts does not run when vitest ends its worker).
    for (const d of daemons) {
      if (d.child.exitCode === null && d.child.signalCode === null) await d.kill();
      rmSync(d.dataDir, { recursive: true, force: true });
    }
    await recorder?.close();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    await node?.cleanup();
  });

  /** `serve` with the anchor options of these tests; the node's RPC URL unless `rpcUrl` is given. */
  async function anchoringDaemon(o: { wallet?: string; extra?: string[]; rpcUrl?: string } = {}): Promise<RunningDaemon> {
    const d = await startDaemon({
      args: [
        '--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0',
        '--bitcoin-rpc', o.rpcUrl ?? node.url, '--bitcoin-cookie', node.cookieFile, '--bitcoin-wallet', o.wallet ?? 'immutalog',
        '--anchor-interval', '3600', '--anchor-poll-interval', '1', '--anchor-stuck-blocks', '2', '--anchor-final-confirmations', '6',
        '--checkpoint-entries', '5',
        ...(o.extra ?? []),
      ],
    });
    daemons.push(d);
    return d;
  }

  async function status(dir: string): Promise<any> {
    const r = await cli(['status', '--data-dir', dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  }

  async function verify(dir: string, extra: string[] = []): Promise<{ code: number | null; report: any; stderr: string }> {
    const fingerprint = withDb(dir, (db) => (db.prepare("SELECT value FROM meta WHERE key = 'fingerprint'").get() as { value: string }).value);
    // While recording, verify's header requests go through the proxy too.
    const url = recorder?.url ?? node.url;
    const r = await cli(['verify', '--data-dir', dir, '--json', '--identity', fingerprint, '--bitcoin-rpc', url, '--bitcoin-cookie', node.cookieFile, ...extra]);
    let report: any;
    try {
      report = JSON.parse(r.stdout);
    } catch {
      report = undefined;
    }
    return { code: r.code, report, stderr: r.stderr };
  }

  async function anchorNow(dir: string): Promise<CliResult & { json: any }> {
    const r = await cli(['anchor', '--now', '--json', '--data-dir', dir]);
    let json: any;
    try {
      json = JSON.parse(r.stdout);
    } catch {
      json = undefined;
    }
    return { ...r, json };
  }

  /**
   * Sends n messages (n a multiple of 5) in bursts of 5, each burst waited for until it is stored
   * and sealed: exactly n/5 new checkpoints (a block that fills while a checkpoint is being
   * written would otherwise take the next burst too).
   */
  async function feed(d: RunningDaemon, tag: string, n: number): Promise<void> {
    const before = facts(d.dataDir);
    const all = messages(tag, n);
    for (let k = 1; k * 5 <= n; k++) {
      await sendUdp(d.udpPort, all.slice((k - 1) * 5, k * 5));
      await until(`${k * 5} more entries and ${k} more checkpoints`, () => facts(d.dataDir), (f) => f.entries === before.entries + k * 5 && f.checkpoints >= before.checkpoints + k, 20_000, 20);
    }
  }

  async function waitState(dir: string, id: number, state: string, timeoutMs = 30_000): Promise<AnchorRow> {
    return (await until(`anchor ${id} to be ${state}`, () => anchorRow(dir, id), (a) => a?.state === state, timeoutMs))!;
  }

  /** The OP_RETURN outputs of a transaction, as the node decodes it. */
  async function opReturns(hex: string): Promise<string[]> {
    const tx = await node.rpc<{ vout: { scriptPubKey: { type: string; hex: string } }[] }>('decoderawtransaction', [hex]);
    return tx.vout.filter((o) => o.scriptPubKey.type === 'nulldata').map((o) => o.scriptPubKey.hex);
  }

  const sum = (c: Record<string, number>): number => Object.values(c).reduce((a, b) => a + b, 0);

  // ---------------------------------------------------------------------------------------------
  let s1Dir: string | undefined;
  let s1Anchor: AnchorRow | undefined;
  let s2aDir: string | undefined;
  let s2cDir: string | undefined;

  it('1. one round anchors many checkpoints in one transaction, verified end to end up to final', async () => {
    const t0 = Date.now();
    if (RECORD) {
      recorder = await startRecordingProxy(node.url);
      recorder.step = 'daemon start';
    }
    const d = await anchoringDaemon(recorder ? { rpcUrl: recorder.url } : {});
    if (recorder) recorder.step = 'idle polls while 100 messages arrive';
    await feed(d, 's1', 100);
    const f0 = facts(d.dataDir);
    expect(f0.checkpoints).toBeGreaterThanOrEqual(15);
    expect(f0.anchors).toEqual([]);

    if (recorder) {
      // The round's root depends on these: a replay of the round needs the same checkpoints.
      const rows = withDb(d.dataDir, (db) => db.prepare('SELECT idx, time_us, hex(bytes) AS bytes FROM checkpoints ORDER BY idx').all() as { idx: number; time_us: number; bytes: string }[]);
      mkdirSync(dirname(RECORDING_OUT), { recursive: true });
      writeFileSync(RECORDING_CHECKPOINTS, JSON.stringify({ note: 'checkpoints table (bytes as hex) just before the anchor round of anchor-worker-round.jsonl', checkpoints: rows.map((r) => ({ ...r, bytes: r.bytes.toLowerCase() })) }, null, 1) + '\n');
      recorder.step = 'anchor --now';
    }
    const a = await anchorNow(d.dataDir);
    expect(a.code, a.stderr).toBe(0);
    expect(a.json.txid).toMatch(/^[0-9a-f]{64}$/);
    expect(a.json.state).toBe('broadcast');
    const f1 = facts(d.dataDir);
    // Everything that was waiting went into this one round (the heartbeat is 60 s away).
    expect(a.json.checkpoints).toBe(f1.checkpoints);
    expect(a.json.checkpoints).toBeGreaterThanOrEqual(15);
    expect(f1.anchors).toHaveLength(1);
    const row = f1.anchors[0]!;
    expect(row.txid).toBe(a.json.txid);
    expect(row.tree_size).toBe(a.json.checkpoints);
    expect(f1.proofs).toBe(a.json.checkpoints);
    expect(f1.unanchored).toBe(0);

    // The node's view of the transaction: exactly one OP_RETURN, 32 bytes, the anchor root.
    const raw = await node.rpc<{ hex: string; vout: { scriptPubKey: { type: string; hex: string } }[] }>('getrawtransaction', [a.json.txid, true]);
    expect(raw.hex).toBe(row.tx_hex);
    const nulldata = raw.vout.filter((o) => o.scriptPubKey.type === 'nulldata');
    expect(nulldata).toHaveLength(1);
    expect(nulldata[0]!.scriptPubKey.hex).toBe('6a20' + Buffer.from(row.root).toString('hex'));
    const entry = await node.rpc<{ vsize: number; fees: { base: number }; 'bip125-replaceable'?: boolean }>('getmempoolentry', [a.json.txid]);
    expect(Math.round(entry.fees.base * 1e8)).toBe(row.fee_sats);
    expect(entry.vsize).toBe(row.vsize);
    console.log(
      `[anchor-regtest] anchor tx ${a.json.txid}: vsize ${entry.vsize} vB, fee ${row.fee_sats} sat at ${row.fee_rate} sat/vB, ` +
        `${a.json.checkpoints} checkpoints in one tx (${(row.fee_sats / a.json.checkpoints).toFixed(1)} sat per checkpoint), ${raw.vout.length} outputs`,
    );

    if (recorder) recorder.step = 'mine 1 block';
    const [block] = await node.mine(1);
    if (recorder) recorder.step = 'poll until mined';
    const mined = await waitState(d.dataDir, row.id, 'mined');
    expect(mined.block_hash).toBe(block);
    expect(mined.block_height).toBe((await node.tip()).height);
    expect(mined.branch).not.toBeNull();
    const wtx = await node.rpc<{ blockhash: string; blockindex: number }>('gettransaction', [row.txid], 'immutalog');
    expect(wtx.blockhash).toBe(block);
    expect(mined.tx_index).toBe(wtx.blockindex);

    const st = await until('status to show the node reachable and the fee spent', () => status(d.dataDir), (s) => s.daemon?.anchor?.nodeReachable === true && s.daemon.anchor.feesSpentSats === row.fee_sats, 10_000);
    expect(st.daemon.anchor.lastError).toBeNull();

    if (recorder) recorder.step = 'verify (mined)';
    const v1 = await verify(d.dataDir);
    expect(v1.code, v1.stderr + JSON.stringify(v1.report?.failures)).toBe(0);
    expect(v1.report.failures).toEqual([]);
    expect(v1.report.anchors.checkedAgainstNode).toBe(true);
    expect(v1.report.anchors.anchorsChecked).toBe(1);
    // Every checkpoint in range is covered by the mined anchor (verify counts the non-empty ones).
    const byState1 = v1.report.anchors.checkpointsByState;
    expect(sum(byState1)).toBe(v1.report.counts.checkpoints);
    expect(byState1.mined).toBe(v1.report.counts.checkpoints - byState1.unanchored);
    expect(byState1.mined).toBeGreaterThanOrEqual(15);
    expect(byState1.unanchored).toBe(facts(d.dataDir).unanchored);

    if (recorder) recorder.step = 'mine 5 more blocks';
    await node.mine(5);
    if (recorder) recorder.step = 'poll until final';
    const fin = await waitState(d.dataDir, row.id, 'final');
    expect(fin.block_hash).toBe(block);
    if (recorder) recorder.step = 'verify (final)';
    const v2 = await verify(d.dataDir);
    expect(v2.code, JSON.stringify(v2.report?.failures)).toBe(0);
    expect(v2.report.anchors.checkpointsByState.final).toBe(byState1.mined);
    expect(v2.report.anchors.checkpointsByState.mined).toBe(0);

    if (recorder) recorder.step = 'daemon stop';
    expect(await d.stop()).toBe(0);
    s1Dir = d.dataDir;
    s1Anchor = fin;
    if (recorder) {
      mkdirSync(dirname(RECORDING_OUT), { recursive: true });
      const n = recorder.write(RECORDING_OUT);
      console.log(`[anchor-regtest] recorded ${n} exchanges to ${RECORDING_OUT}`);
      await recorder.close();
      recorder = undefined;
    }
    console.log(`[anchor-regtest] scenario 1 took ${Date.now() - t0} ms`);
  });

  // ---------------------------------------------------------------------------------------------
  it('2a. a stuck anchor is bumped by replace-by-fee (same root, higher rate) and the replacement is mined', async () => {
    const t0 = Date.now();
    const d = await anchoringDaemon();
    await feed(d, 's2', 20);
    const a = await anchorNow(d.dataDir);
    expect(a.code, a.stderr).toBe(0);
    const first = anchorRow(d.dataDir, a.json.anchor)!;
    expect(first.fee_rate).toBe(2); // no estimate on regtest: the fallback rate
    const root = '6a20' + Buffer.from(first.root).toString('hex');

    await node.mineEmpty(2);
    const versions = await until('a replacement in anchor_txs', () => anchorTxs(d.dataDir, first.id), (v) => v.length >= 2, 20_000);
    expect(versions[0]!.txid).toBe(first.txid);
    for (let i = 1; i < versions.length; i++) {
      expect(versions[i]!.fee_rate).toBeGreaterThan(versions[i - 1]!.fee_rate);
      expect(versions[i]!.fee_sats).toBeGreaterThan(versions[i - 1]!.fee_sats);
    }
    for (const v of versions) expect(await opReturns(v.tx_hex)).toEqual([root]);
    const bumped = anchorRow(d.dataDir, first.id)!;
    const last = versions[versions.length - 1]!;
    expect(bumped.state).toBe('broadcast');
    expect(bumped.txid).toBe(last.txid);
    expect(bumped.bumps).toBe(versions.length - 1);
    expect(bumped.fee_rate).toBeLessThanOrEqual(50);
    // The replacement is what the mempool holds now.
    const mempool = await node.rpc<string[]>('getrawmempool');
    expect(mempool).toContain(last.txid);
    expect(mempool).not.toContain(first.txid);
    console.log(`[anchor-regtest] bump: ${first.txid} ${first.fee_sats} sat at ${first.fee_rate} sat/vB -> ${last.txid} ${last.fee_sats} sat at ${last.fee_rate} sat/vB`);

    const [block] = await node.mine(1);
    const mined = await waitState(d.dataDir, first.id, 'mined');
    expect(mined.txid).toBe(last.txid);
    expect(mined.block_hash).toBe(block);
    expect(mined.fee_sats).toBe(last.fee_sats);
    const v = await verify(d.dataDir);
    expect(v.code, JSON.stringify(v.report?.failures)).toBe(0);
    expect(v.report.anchors.checkpointsByState.mined).toBeGreaterThan(0);
    expect(await d.stop()).toBe(0);
    s2aDir = d.dataDir;
    console.log(`[anchor-regtest] scenario 2a took ${Date.now() - t0} ms`);
  });

  it('2c. checkpoints that arrive while an anchor is stuck are re-merkled into its replacement', async () => {
    const d = await anchoringDaemon();
    await feed(d, 's2c', 20);
    const a = await anchorNow(d.dataDir);
    expect(a.code, a.stderr).toBe(0);
    const first = anchorRow(d.dataDir, a.json.anchor)!;
    // More checkpoints, written while the anchor waits in the mempool.
    await feed(d, 's2c-more', 15);
    await until('new checkpoints', () => dbCount(d.dataDir, 'SELECT count(*) AS n FROM checkpoints'), (n) => n >= first.tree_size + 3, 20_000);
    await node.mineEmpty(2);
    const versions = await until('a re-merkled replacement', () => anchorTxs(d.dataDir, first.id), (v) => v.length >= 2, 20_000);
    const bumped = anchorRow(d.dataDir, first.id)!;
    expect(bumped.tree_size).toBeGreaterThan(first.tree_size);
    expect(Buffer.from(bumped.root).equals(Buffer.from(first.root))).toBe(false);
    const last = versions[versions.length - 1]!;
    expect(await opReturns(last.tx_hex)).toEqual(['6a20' + Buffer.from(bumped.root).toString('hex')]);
    expect(dbCount(d.dataDir, `SELECT count(*) AS n FROM anchor_proofs WHERE anchor_id = ${first.id}`)).toBe(bumped.tree_size);
    await node.mine(1);
    const mined = await waitState(d.dataDir, first.id, 'mined');
    expect(mined.txid).toBe(last.txid);
    expect(mined.tree_size).toBe(bumped.tree_size);
    const v = await verify(d.dataDir);
    expect(v.code, JSON.stringify(v.report?.failures)).toBe(0);
    // Every checkpoint the replacement took in is proven in the mined transaction.
    expect(v.report.anchors.checkpointsByState.mined).toBe(bumped.tree_size);
    console.log(`[anchor-regtest] re-merkle: ${first.tree_size} checkpoints in ${first.txid}, replaced by ${last.txid} with ${bumped.tree_size}`);
    expect(await d.stop()).toBe(0);
    s2cDir = d.dataDir;
  });

  // Before any reorg scenario: the blocks of scenarios 1, 2a and 2c stay in the best chain.
  py.it('2d. export-ots: python3-opentimestamps checks every mined checkpoint of 1, 2a (bumped) and 2c (re-merkled) against the node, and fails an altered one', async () => {
    const dirs = { '1': s1Dir, '2a': s2aDir, '2c': s2cDir };
    const cookie = readFileSync(node.cookieFile, 'utf8').trim();
    const rpc = node.url.replace('http://', `http://${cookie}@`);
    for (const [scenario, dir] of Object.entries(dirs)) {
      if (!dir) throw new Error(`scenario ${scenario} did not leave its data directory`);
      const out = join(scratch, `ots-${scenario}`);
      const mined = withDb(dir, (db) => db.prepare("SELECT p.checkpoint FROM anchor_proofs p JOIN anchors a ON a.id = p.anchor_id WHERE a.state IN ('mined', 'final') ORDER BY p.checkpoint").all() as { checkpoint: number }[]).map((r) => r.checkpoint);
      expect(mined.length, `scenario ${scenario}`).toBeGreaterThan(0);
      const r = await cli(['export-ots', '--data-dir', dir, '--all', '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`wrote ${mined.length} proofs to ${out}`);
      // No header is given: the script asks the node for the block at each attestation's height, as `ots verify` does.
      const results = await otsVerify(mined.map((c) => ({ ots: join(out, `checkpoint-${c}.bin.ots`), target: join(out, `checkpoint-${c}.bin`) })), rpc);
      for (const x of results) expect([x.ots, x.deserialized, x.digest_matches, x.merkle_root_matches, x.error]).toEqual([x.ots, true, true, true, null]);
      const anchors = withDb(dir, (db) => db.prepare("SELECT block_height FROM anchors WHERE state IN ('mined', 'final')").all() as { block_height: number }[]).map((a) => a.block_height);
      expect(new Set(results.map((x) => x.height))).toEqual(new Set(anchors));
      // The same proof, forged for the checkpoint with one byte changed, misses the block's merkle root.
      const c = mined[0]!;
      const altered = readFileSync(join(out, `checkpoint-${c}.bin`));
      altered[100]! ^= 0x01;
      const forged = readFileSync(join(out, `checkpoint-${c}.bin.ots`));
      createHash('sha256').update(altered).digest().copy(forged, 33);
      writeFileSync(join(out, 'altered.bin'), altered);
      writeFileSync(join(out, 'altered.bin.ots'), forged);
      const [bad] = await otsVerify([{ ots: join(out, 'altered.bin.ots'), target: join(out, 'altered.bin') }], rpc);
      expect([bad!.digest_matches, bad!.merkle_root_matches, bad!.error]).toEqual([true, false, 'VerificationError: Digest does not match merkleroot']);
    }
  });

  it('2b. at the fee-rate cap a stuck anchor is not bumped and status shows the fee-cap error', async () => {
    const t0 = Date.now();
    const d = await anchoringDaemon({ extra: ['--anchor-max-fee-rate', '2'] });
    await feed(d, 's2b', 10);
    const a = await anchorNow(d.dataDir);
    expect(a.code, a.stderr).toBe(0);
    expect(a.json.fee_rate).toBe(2);
    await node.mineEmpty(3);
    const st = await until('status to show the fee cap', () => status(d.dataDir), (s) => s.daemon?.anchor?.lastErrorKind === 'fee-cap', 20_000);
    expect(st.daemon.anchor.lastError).toMatch(/cap/);
    expect(st.daemon.anchor.nodeReachable).toBe(true);
    expect(anchorTxs(d.dataDir, a.json.anchor)).toHaveLength(1);
    const row = anchorRow(d.dataDir, a.json.anchor)!;
    expect(row.state).toBe('broadcast');
    expect(row.txid).toBe(a.json.txid);
    expect(row.bumps).toBe(0);
    expect(await node.rpc<string[]>('getrawmempool')).toContain(a.json.txid);
    expect(await d.stop()).toBe(0);
    await node.mine(1); // let it confirm, so no later scenario meets it in the mempool
    console.log(`[anchor-regtest] scenario 2b took ${Date.now() - t0} ms`);
  });

  // ---------------------------------------------------------------------------------------------
  it('3. a reorg takes the anchor back to broadcast (proof dropped); mined again, the proof is recaptured', async () => {
    const t0 = Date.now();
    const d = await anchoringDaemon();
    await feed(d, 's3', 15);
    const a = await anchorNow(d.dataDir);
    expect(a.code, a.stderr).toBe(0);
    const [blockA] = await node.mine(1);
    const m1 = await waitState(d.dataDir, a.json.anchor, 'mined');
    expect(m1.block_hash).toBe(blockA);

    // Reorg: the anchor's block leaves the best chain.
    await node.invalidate(blockA!);
    const back = await waitState(d.dataDir, a.json.anchor, 'broadcast');
    expect(back.block_hash).toBeNull();
    expect(back.block_height).toBeNull();
    expect(back.tx_index).toBeNull();
    expect(back.branch).toBeNull();
    expect(await node.rpc<string[]>('getrawmempool')).toContain(a.json.txid);
    const vb = await verify(d.dataDir);
    expect(vb.code, JSON.stringify(vb.report?.failures)).toBe(0);
    expect(vb.report.anchors.checkpointsByState.mined).toBe(0);
    expect(vb.report.anchors.checkpointsByState.broadcast).toBe(vb.report.counts.checkpoints - vb.report.anchors.checkpointsByState.unanchored);
    expect(vb.report.anchors.checkpointsByState.broadcast).toBeGreaterThan(0);

    // The block comes back (reconsiderblock): mined again in the same block.
    await node.reconsider(blockA!);
    const m2 = await waitState(d.dataDir, a.json.anchor, 'mined');
    expect(m2.block_hash).toBe(blockA);
    expect(Buffer.from(m2.branch!).equals(Buffer.from(m1.branch!))).toBe(true);

    // Reorged out again, and this time mined in another block at the same height.
    await node.invalidate(blockA!);
    await waitState(d.dataDir, a.json.anchor, 'broadcast');
    const other = await node.rpc<string>('getnewaddress', ['', 'bech32'], 'immutalog');
    const [blockB] = await node.mine(1, other);
    expect(blockB).not.toBe(blockA);
    const m3 = await waitState(d.dataDir, a.json.anchor, 'mined');
    expect(m3.block_hash).toBe(blockB);
    expect(m3.block_height).toBe(m1.block_height);
    const v = await verify(d.dataDir);
    expect(v.code, JSON.stringify(v.report?.failures)).toBe(0);
    expect(v.report.anchors.checkpointsByState.mined).toBe(vb.report.anchors.checkpointsByState.broadcast);
    expect(await d.stop()).toBe(0);
    console.log(`[anchor-regtest] scenario 3 took ${Date.now() - t0} ms`);
  });

  // ---------------------------------------------------------------------------------------------
  it('4. the node stops: receiving and checkpoints go on, status shows it; after restart one catch-up tx anchors all', async () => {
    const t0 = Date.now();
    const d = await anchoringDaemon();
    await feed(d, 's4a', 10);
    const a = await anchorNow(d.dataDir);
    expect(a.code, a.stderr).toBe(0);
    await node.mine(1);
    await waitState(d.dataDir, a.json.anchor, 'mined');

    await node.stop();
    const down = Date.now();
    let pending: number;
    try {
      const before = facts(d.dataDir);
      await feed(d, 's4b', 50);
      const after = facts(d.dataDir);
      expect(after.entries).toBe(before.entries + 50);
      expect(after.checkpoints).toBeGreaterThanOrEqual(before.checkpoints + 10);
      expect(after.unanchored).toBeGreaterThanOrEqual(10);
      const st = await until('status to show the node unreachable', () => status(d.dataDir), (s) => s.daemon?.anchor?.nodeReachable === false && s.daemon.anchor.lastError, 20_000);
      expect(st.daemon.anchor.lastErrorKind).toBe('unreachable');
      expect(st.daemon.anchor.lastError).toMatch(/ECONNREFUSED|unreachable/);
      expect(st.daemon.queue.commit_failures).toBe(0);
      // While the node is down a round fails fast with the reason.
      const failed = await anchorNow(d.dataDir);
      expect(failed.code).toBe(2);
      expect(failed.stderr).toMatch(/unreachable|ECONNREFUSED/);
      pending = facts(d.dataDir).unanchored;
    } finally {
      console.log(`[anchor-regtest] node was down ${Date.now() - down} ms`);
      await node.restart();
    }

    // One catch-up transaction for everything that waited. (Should the anchorer retry the failed
    // round on its own timer first, anchor --now finds it in flight: the same catch-up anchor.)
    const c = await anchorNow(d.dataDir);
    if (c.code !== 0) expect(c.stderr).toMatch(/not mined yet/);
    const f = facts(d.dataDir);
    expect(f.anchors).toHaveLength(2);
    const catchUp = f.anchors[1]!;
    if (c.code === 0) expect(c.json.anchor).toBe(catchUp.id);
    expect(catchUp.tree_size).toBe(pending);
    expect(f.unanchored).toBe(0);
    await node.mine(1);
    await waitState(d.dataDir, catchUp.id, 'mined');
    const st2 = await until('status to show the node reachable again', () => status(d.dataDir), (s) => s.daemon?.anchor?.nodeReachable === true, 20_000);
    expect(st2.daemon.anchor.nodeReachable).toBe(true);
    const v = await verify(d.dataDir);
    expect(v.code, JSON.stringify(v.report?.failures)).toBe(0);
    expect(v.report.anchors.anchorsChecked).toBe(2);
    expect(v.report.anchors.checkpointsByState.unanchored).toBe(0);
    expect(await d.stop()).toBe(0);
    console.log(`[anchor-regtest] scenario 4 took ${Date.now() - t0} ms`);
  });

  // ---------------------------------------------------------------------------------------------
  it('5. an empty wallet: anchor --now exits 2 with insufficient funds, status shows it, verify reports unanchored with the age', async () => {
    const t0 = Date.now();
    await node.createWallet('empty');
    const d = await anchoringDaemon({ wallet: 'empty' });
    await feed(d, 's5', 10);
    const a = await anchorNow(d.dataDir);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/insufficient/i);
    const st = await until('status to show insufficient funds', () => status(d.dataDir), (s) => /insufficient/i.test(s.daemon?.anchor?.lastError ?? ''), 10_000);
    expect(st.daemon.anchor.lastErrorKind).toBe('insufficient-funds');
    const f = facts(d.dataDir);
    expect(f.anchors).toEqual([]);
    expect(f.proofs).toBe(0);
    const v = await verify(d.dataDir);
    expect(v.code, JSON.stringify(v.report?.failures)).toBe(0);
    expect(v.report.anchors.checkpointsByState.unanchored).toBe(v.report.counts.checkpoints);
    expect(v.report.anchors.oldestUnanchored).not.toBeNull();
    expect(v.report.anchors.oldestUnanchored.ageUs).toBeGreaterThan(0);
    expect(await d.stop()).toBe(0);
    console.log(`[anchor-regtest] scenario 5 took ${Date.now() - t0} ms`);
  });

  // ---------------------------------------------------------------------------------------------
  describe('6. verify names a tampered anchor (on copies of scenario 1)', () => {
    let n = 0;
    /** A copy of scenario 1's data directory (stopped daemon), tampered with `sql`. */
    function tampered(edit: (db: Database.Database, a: AnchorRow) => void): string {
      if (!s1Dir || !s1Anchor) throw new Error('scenario 1 did not leave its data directory');
      const dir = join(scratch, `copy-${++n}`);
      cpSync(s1Dir, dir, { recursive: true, filter: (src) => !src.endsWith('control.sock') });
      withDb(dir, (db) => edit(db, s1Anchor!), true);
      return dir;
    }
    const flip = (b: Buffer, at: number): Buffer => {
      const c = Buffer.from(b);
      c[at] = c[at]! ^ 0x01;
      return c;
    };
    const codes = (report: any): string[] => report.failures.map((f: any) => f.code);
    // Scenario 1's daemon stopped a while ago: freshness is not what these cases are about.
    const AGE = ['--max-checkpoint-age', '100000'];

    it('the untouched copy verifies', async () => {
      const v = await verify(tampered(() => undefined), AGE);
      expect(v.code, JSON.stringify(v.report?.failures)).toBe(0);
    });

    it('a proof path altered: ANCHOR_PROOF_INVALID at that checkpoint', async () => {
      let cp = -1;
      const dir = tampered((db, a) => {
        const p = db.prepare('SELECT checkpoint, path FROM anchor_proofs WHERE anchor_id = ? ORDER BY checkpoint LIMIT 1 OFFSET 7').get(a.id) as { checkpoint: number; path: Buffer };
        cp = p.checkpoint;
        db.prepare('UPDATE anchor_proofs SET path = ? WHERE checkpoint = ?').run(flip(p.path, 3), cp);
      });
      const v = await verify(dir, AGE);
      expect(v.code).toBe(1);
      expect(v.report.failures).toEqual([expect.objectContaining({ code: 'ANCHOR_PROOF_INVALID', checkpoint: cp })]);
    });

    it('the anchor tx_hex altered (its version, so another txid): ANCHOR_TX_INVALID', async () => {
      const dir = tampered((db, a) => {
        expect(a.tx_hex.startsWith('02000000')).toBe(true);
        db.prepare('UPDATE anchors SET tx_hex = ? WHERE id = ?').run('03' + a.tx_hex.slice(2), a.id);
      });
      const v = await verify(dir, AGE);
      expect(v.code).toBe(1);
      expect(new Set(codes(v.report))).toEqual(new Set(['ANCHOR_TX_INVALID']));
    });

    it('the anchor tx_hex altered in its witness only: same txid, so the proof still holds (verify passes)', async () => {
      // The txid (and so the branch to the block) covers the transaction without its witness:
      // a changed witness byte does not change what is proven. Documented, not a failure.
      const dir = tampered((db, a) => {
        const hex = a.tx_hex;
        const i = hex.length - 8 - 20; // inside the last witness item (the input's public key), before nLockTime
        db.prepare('UPDATE anchors SET tx_hex = ? WHERE id = ?').run(hex.slice(0, i) + (hex[i] === '0' ? '1' : '0') + hex.slice(i + 1), a.id);
      });
      const v = await verify(dir, AGE);
      expect(v.code, JSON.stringify(v.report?.failures)).toBe(0);
    });

    it('the OP_RETURN root in tx_hex altered: ANCHOR_TX_INVALID', async () => {
      const dir = tampered((db, a) => {
        const root = Buffer.from(a.root).toString('hex');
        const other = flip(Buffer.from(a.root), 0).toString('hex');
        expect(a.tx_hex).toContain('6a20' + root);
        db.prepare('UPDATE anchors SET tx_hex = ? WHERE id = ?').run(a.tx_hex.replace('6a20' + root, '6a20' + other), a.id);
      });
      const v = await verify(dir, AGE);
      expect(v.code).toBe(1);
      expect(new Set(codes(v.report))).toEqual(new Set(['ANCHOR_TX_INVALID']));
    });

    it('the stored branch altered: ANCHOR_INCLUSION_INVALID', async () => {
      const dir = tampered((db, a) => {
        expect(a.branch!.length).toBeGreaterThanOrEqual(32);
        db.prepare('UPDATE anchors SET branch = ? WHERE id = ?').run(flip(Buffer.from(a.branch!), 5), a.id);
      });
      const v = await verify(dir, AGE);
      expect(v.code).toBe(1);
      expect(new Set(codes(v.report))).toEqual(new Set(['ANCHOR_INCLUSION_INVALID']));
    });

    it('the block hash set to a stale block (not in the best chain): named as inclusion / not in chain', async () => {
      // A stale block: mine an empty tip, invalidate it, and mine another at its height.
      const [stale] = await node.mineEmpty(1);
      await node.invalidate(stale!);
      const other = await node.rpc<string>('getnewaddress', ['', 'bech32'], 'immutalog');
      await node.mine(1, other);
      expect((await node.rpc<{ confirmations: number }>('getblockheader', [stale])).confirmations).toBe(-1);
      const dir = tampered((db, a) => db.prepare('UPDATE anchors SET block_hash = ? WHERE id = ?').run(stale, a.id));
      const v = await verify(dir, AGE);
      expect(v.code).toBe(1);
      console.log(`[anchor-regtest] block hash -> stale block: ${codes(v.report).join(', ')}`);
      expect(codes(v.report).length).toBeGreaterThan(0);
      for (const c of codes(v.report)) expect(['ANCHOR_INCLUSION_INVALID', 'ANCHOR_BLOCK_NOT_IN_CHAIN']).toContain(c);
    });

    it("the anchor's real block reorged out: ANCHOR_BLOCK_NOT_IN_CHAIN", async () => {
      const dir = tampered(() => undefined);
      await node.invalidate(s1Anchor!.block_hash!);
      try {
        const v = await verify(dir, AGE);
        expect(v.code).toBe(1);
        expect(v.report.failures).toEqual([expect.objectContaining({ code: 'ANCHOR_BLOCK_NOT_IN_CHAIN' })]);
      } finally {
        await node.reconsider(s1Anchor!.block_hash!);
      }
      const tip = await node.tip();
      expect((await node.rpc<{ confirmations: number }>('getblockheader', [s1Anchor!.block_hash!])).confirmations).toBe(tip.height - s1Anchor!.block_height! + 1);
    });

    it('the block hash set to a block the node does not know: an integrity failure, not "cannot run"', async () => {
      const dir = tampered((db, a) => db.prepare('UPDATE anchors SET block_hash = ? WHERE id = ?').run('11'.repeat(32), a.id));
      const v = await verify(dir, AGE);
      expect(v.code, v.stderr).toBe(1);
      expect(codes(v.report).length).toBeGreaterThan(0);
      for (const c of codes(v.report)) expect(['ANCHOR_INCLUSION_INVALID', 'ANCHOR_BLOCK_NOT_IN_CHAIN']).toContain(c);
    });
  });
});
