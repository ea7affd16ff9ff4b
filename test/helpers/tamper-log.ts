// Shared harness for the integration tests that build a log, stop, crash or refuse a daemon on
// it, tamper with it and verify it (tamper, checkpoint-crash, verify-state, keystate-refusal,
// single-writer, start-gate, ...): real daemons on loopback, real SQLite files, tampering done
// on COPIES of a data directory with better-sqlite3, and `immutalog verify --json` run as a
// child process.
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { encodeStoredEntry } from '../../src/chain/encoding.js';
import type { EntryRow } from '../../src/store/log-store.js';
import { generateSigningKeyPair, type RawKeyPair } from '../../src/chain/keys.js';
import { chainMac } from '../../src/chain/mac.js';
import { checkpointHash, decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '../../src/checkpoint/format.js';
import { signCheckpoint } from '../../src/checkpoint/sign.js';
import { fieldsToJson, parseRecord } from '../../src/parse/index.js';
import { query, runCli, START_TIMEOUT_MS, startDaemon, waitFor, type QueriedEntry, type RunningDaemon } from './daemon.js';
import { CLI } from './paths.js';
import { sendTcp } from './send.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Temp directories and daemons, tracked so that afterAll can remove / stop every one of them.

/** Freshness is not the point of most cases: a max age no test run comes near. */
export const BIG_AGE = ['--max-checkpoint-age', '100000000'];

export class Scratch {
  private readonly dirs: string[] = [];
  private readonly daemons: RunningDaemon[] = [];

  dir(prefix = 'immutalog-tamper-'): string {
    const d = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.push(d);
    return d;
  }

  /** A copy of a (stopped or killed) data directory: database, -wal, -shm, key state, auditor key. */
  copy(src: string, prefix = 'immutalog-tamper-copy-'): string {
    const dst = this.dir(prefix);
    for (const name of ['immutalog.sqlite', 'immutalog.sqlite-wal', 'immutalog.sqlite-shm', 'keystate.json', 'auditor-key.pem']) {
      if (existsSync(join(src, name))) cpSync(join(src, name), join(dst, name));
    }
    return dst;
  }

  async daemon(dataDir: string, args: string[], env?: Record<string, string>): Promise<RunningDaemon> {
    const d = await startServe(dataDir, ['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', ...args], env ?? {});
    this.daemons.push(d);
    return d;
  }

  /**
   * A cleanly stopped log on `dir`: a daemon started, `tags` sent as osloMessage records over TCP
   * and committed (the first at `firstSeq`), then stopped with exit 0.
   */
  async stoppedLog(dir: string, args: string[], tags: readonly string[], firstSeq = 0): Promise<void> {
    const d = await this.daemon(dir, args);
    await sendCommitted(d, tags, firstSeq);
    expect(await d.stop()).toBe(0);
  }

  async cleanup(): Promise<void> {
    for (const d of this.daemons) {
      if (d.child.exitCode === null && d.child.signalCode === null) await d.kill();
    }
    this.daemons.length = 0;
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
    this.dirs.length = 0;
  }
}

/** A Scratch for one test file: what it made is stopped and removed after the file's last test. */
export function scratchForFile(): Scratch {
  const scratch = new Scratch();
  afterAll(async () => {
    await scratch.cleanup();
  });
  return scratch;
}

/** startDaemon() on a given data directory with extra environment (the fault switch). */
export function startServe(dataDir: string, args: string[], env: Record<string, string>, timeoutMs = START_TIMEOUT_MS): Promise<RunningDaemon> {
  return startDaemon({ dataDir, args, env, timeoutMs });
}

// ---------------------------------------------------------------------------------------------
// Messages and senders.

/** An oslo.log ContextFormatter record in RFC 5424, unique by `tag` (the request id carries it too). */
export function osloMessage(tag: string): Buffer {
  const rid = `req-${Buffer.from(tag).toString('hex').padEnd(32, '0').slice(0, 32)}`;
  return Buffer.from(
    `<134>1 2026-11-26T12:00:00.000000+00:00 ctl tacker-server 4242 - - 2026-11-26 12:00:00.000 4242 INFO tacker.vnfm.plugin [${rid} ${rid} admin demo - - -] ${tag} done`,
  );
}

export { sendTcp, sendUdp } from './send.js';

/** Sends `tags` as osloMessage records on one TCP connection and waits until they are committed (the first at `firstSeq`). */
export async function sendCommitted(d: RunningDaemon, tags: readonly string[], firstSeq = 0): Promise<void> {
  await sendTcp(d.tcpPort, tags.map(osloMessage));
  await waitCommitted(d, firstSeq + tags.length - 1);
}

/** Waits (bounded) until the daemon reports `lastSeq` committed; throws with the status otherwise. */
export async function waitCommitted(d: RunningDaemon, lastSeq: number, timeoutMs = 60_000): Promise<void> {
  const s = await waitFor(() => d.status(), (v) => (v?.last_committed_seq ?? -1) >= lastSeq, timeoutMs, 50);
  if ((s?.last_committed_seq ?? -1) < lastSeq) {
    throw new Error(`daemon committed up to ${s?.last_committed_seq}, expected ${lastSeq}: ${JSON.stringify(s?.queue)}\n${d.stderr()}`);
  }
}

/** Waits (bounded) for the child to end, whatever ended it. */
export async function waitExit(d: RunningDaemon, timeoutMs = 60_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  await waitFor(() => d.child.exitCode !== null || d.child.signalCode !== null, (v) => v, timeoutMs, 20);
  return { code: d.child.exitCode, signal: d.child.signalCode };
}

// ---------------------------------------------------------------------------------------------
// The CLI.

export interface VerifyFailure {
  code: string;
  seq?: number;
  block?: number;
  checkpoint?: number;
  expected?: string;
  actual?: string;
  detail: string;
}

export interface VerifyJson {
  fingerprint: string;
  identityPinned: boolean;
  found: { firstSeq: number | null; lastSeq: number | null };
  counts: { entries: number; blocks: number; checkpoints: number; openBlockEntries: number; otherParserVersion: number };
  newestCheckpoint: { index: number; timeUs: number; ageUs: number; reason: string } | null;
  unverified: { block: number; firstSeq: number; lastSeq: number; why: string }[];
  resumedFrom: number | null;
  failures: VerifyFailure[];
  nextState: { fingerprint: string; checkpoint: number; hash: string; verified_at: string } | null;
  verdict: 'verified' | 'failed';
}

export interface VerifyRun {
  code: number | null;
  report: VerifyJson | undefined;
  stdout: string;
  stderr: string;
}

/** `immutalog verify --data-dir DIR --json ...args`; the report is parsed when the command printed one. */
export function verifyCli(dataDir: string, args: string[] = []): VerifyRun {
  const r = runCli(['verify', '--data-dir', dataDir, '--json', ...args]);
  let report: VerifyJson | undefined;
  try {
    report = r.stdout.trim() ? (JSON.parse(r.stdout) as VerifyJson) : undefined;
  } catch {
    report = undefined;
  }
  return { code: r.code, report, stdout: r.stdout, stderr: r.stderr };
}

export function fingerprintOf(dataDir: string): string {
  const r = runCli(['status', '--data-dir', dataDir, '--json']);
  if (r.code !== 0) throw new Error(`status failed (${r.code}): ${r.stderr}`);
  const fp = JSON.parse(r.stdout).database.fingerprint as string;
  if (!/^[0-9a-f]{64}$/.test(fp)) throw new Error(`status gave no fingerprint: ${r.stdout}`);
  return fp;
}

/** The whole log verifies (exit 0) with its pinned identity and the auditor key in its directory. */
export function expectVerified(dir: string): VerifyRun {
  const r = verifyCli(dir, ['--identity', fingerprintOf(dir), '--auditor-key', join(dir, 'auditor-key.pem'), ...BIG_AGE]);
  expect(r.code, summary(r)).toBe(0);
  return r;
}

/** Short summary of failures for assertion messages. */
export function summary(r: VerifyRun): string {
  if (!r.report) return `exit ${r.code}, no report; stderr: ${r.stderr}`;
  return `exit ${r.code}: ` + JSON.stringify(r.report.failures.map((f) => ({ code: f.code, seq: f.seq, block: f.block, checkpoint: f.checkpoint })));
}

/** code@place keys of the failures, for exact set comparisons. */
export function failureKeys(r: VerifyRun): string[] {
  return (r.report?.failures ?? []).map((f) => `${f.code}${f.seq !== undefined ? ` seq=${f.seq}` : ''}${f.block !== undefined ? ` block=${f.block}` : ''}${f.checkpoint !== undefined ? ` cp=${f.checkpoint}` : ''}`).sort();
}

/** The failure naming the lowest sequence number (the first bad entry), if any failure names one. */
export function firstBySeq(r: VerifyRun): VerifyFailure | undefined {
  const withSeq = (r.report?.failures ?? []).filter((f) => f.seq !== undefined);
  return withSeq.sort((a, b) => a.seq! - b.seq!)[0];
}

/** The failure naming the lowest checkpoint index (for failures that name a checkpoint). */
export function firstByCheckpoint(r: VerifyRun): VerifyFailure | undefined {
  const withCp = (r.report?.failures ?? []).filter((f) => f.checkpoint !== undefined);
  return withCp.sort((a, b) => a.checkpoint! - b.checkpoint!)[0];
}

// ---------------------------------------------------------------------------------------------
// Direct database access for tampering.

/** An entries row, as the store defines it. */
export type EntryRowT = EntryRow;

export interface CheckpointRowT {
  idx: number;
  time_us: number;
  bytes: Buffer;
}

export interface BlockRowT {
  block: number;
  first_seq: number;
  opened_at_us: number;
  escrow: Buffer;
}

/** Opens the copy's database for writing, runs `fn`, closes it (which folds the WAL back in). */
export function withDb<T>(dataDir: string, fn: (db: Database.Database) => T): T {
  const db = new Database(join(dataDir, 'immutalog.sqlite'));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

export function entryAt(db: Database.Database, seq: number): EntryRowT {
  const r = db.prepare('SELECT * FROM entries WHERE seq = ?').get(seq) as EntryRowT | undefined;
  if (!r) throw new Error(`no entry ${seq}`);
  return r;
}

export function allEntries(db: Database.Database): EntryRowT[] {
  return db.prepare('SELECT * FROM entries ORDER BY seq').all() as EntryRowT[];
}

export function checkpointAt(db: Database.Database, idx: number): CheckpointRowT {
  const r = db.prepare('SELECT * FROM checkpoints WHERE idx = ?').get(idx) as CheckpointRowT | undefined;
  if (!r) throw new Error(`no checkpoint ${idx}`);
  return r;
}

export function allCheckpoints(db: Database.Database): (CheckpointRowT & { cp: Checkpoint })[] {
  return (db.prepare('SELECT * FROM checkpoints ORDER BY idx').all() as CheckpointRowT[]).map((r) => ({ ...r, cp: decodeCheckpoint(Buffer.from(r.bytes)) }));
}

export function allBlocks(db: Database.Database): BlockRowT[] {
  return db.prepare('SELECT * FROM blocks ORDER BY block').all() as BlockRowT[];
}

/** Reads the data directory without writing to it (a snapshot of the tables the tests look at). */
export function readLog(dataDir: string): { entries: EntryRowT[]; checkpoints: (CheckpointRowT & { cp: Checkpoint })[]; blocks: BlockRowT[] } {
  const db = new Database(join(dataDir, 'immutalog.sqlite'), { readonly: true });
  try {
    return { entries: allEntries(db), checkpoints: allCheckpoints(db), blocks: allBlocks(db) };
  } finally {
    db.close();
  }
}

export function setRaw(db: Database.Database, seq: number, raw: Buffer): void {
  db.prepare('UPDATE entries SET raw = ? WHERE seq = ?').run(raw, seq);
}

/** The canonical fields JSON the receiver would have stored for these bytes. */
export function fieldsFor(raw: Buffer): string {
  return fieldsToJson(parseRecord(raw));
}

/** Replaces a checkpoint's bytes (and its row time, when asked) in place. */
export function putCheckpoint(db: Database.Database, idx: number, cp: Checkpoint, opts: { rowTime?: boolean } = {}): void {
  const bytes = encodeCheckpoint(cp);
  if (opts.rowTime) db.prepare('UPDATE checkpoints SET bytes = ?, time_us = ? WHERE idx = ?').run(bytes, cp.timeUs, idx);
  else db.prepare('UPDATE checkpoints SET bytes = ? WHERE idx = ?').run(bytes, idx);
}

export { checkpointHash, decodeCheckpoint, encodeCheckpoint, signCheckpoint, generateSigningKeyPair, type Checkpoint, type RawKeyPair };

/** Signs a (changed) checkpoint body with the given key pair: a fresh one, or a stolen one. */
export function resign(cp: Checkpoint, signer: RawKeyPair): Checkpoint {
  const { signature: _old, ...body } = cp;
  return signCheckpoint(body, signer);
}

/**
 * Recomputes the MAC of every entry from `fromSeq` to the end, chaining on the stored MAC of
 * entry fromSeq-1 (or `startPrev`), with the key `keyFor(entry)` returns: what an attacker who
 * holds those keys does to make an edit consistent.
 */
export function rechain(db: Database.Database, fromSeq: number, keyFor: (e: EntryRowT) => Buffer, startPrev?: Buffer): void {
  let prev = startPrev ?? Buffer.from(entryAt(db, fromSeq - 1).mac);
  const rows = db.prepare('SELECT * FROM entries WHERE seq >= ? ORDER BY seq').all(fromSeq) as EntryRowT[];
  const upd = db.prepare('UPDATE entries SET mac = ? WHERE seq = ?');
  db.transaction(() => {
    for (const e of rows) {
      const mac = chainMac(keyFor(e), prev, encodeStoredEntry(e));
      upd.run(mac, e.seq);
      prev = mac;
    }
  })();
}

export interface KeyStateFile {
  fingerprint: string;
  block: number;
  block_key: string;
  signing_public: string;
  signing_private: string;
  next_block_key?: string;
}

export function readKeyState(dataDir: string): KeyStateFile {
  return JSON.parse(readFileSync(join(dataDir, 'keystate.json'), 'utf8')) as KeyStateFile;
}

/** Fresh Ed25519 key pair (an attacker's own signing key). */
export function freshSigner(): RawKeyPair {
  return generateSigningKeyPair();
}

// ---------------------------------------------------------------------------------------------
// Senders that tolerate the receiver dying under them (crash tests).

/** The tag of an osloMessage() record, read back from its raw bytes. */
export function tagOf(raw: Buffer): string {
  return /\] (\S+) done$/.exec(raw.toString('latin1'))?.[1] ?? '?';
}

/** The tags of queried osloMessage() records, in their order. */
export const tagsOf = (rows: readonly QueriedEntry[]): string[] => rows.map((r) => tagOf(Buffer.from(r.raw, 'base64')));

/** The tags of every record stored in `dir`, in sequence order (`immutalog query`). */
export const storedTags = (dir: string): string[] => tagsOf(query(dir));

/** 0..n-1; with a prefix, the tags prefix-0..prefix-(n-1). */
export function range(n: number): number[];
export function range(n: number, prefix: string): string[];
export function range(n: number, prefix?: string): (number | string)[] {
  return Array.from({ length: n }, (_, i) => (prefix === undefined ? i : `${prefix}-${i}`));
}

/** How long a start that must be refused may run: a refused start ends at once; past this it is taken to be serving (and killed). */
export const REFUSED_WITHIN_MS = 30_000;

/** `serve` that must end by itself (refused) rather than keep serving; the caller checks its exit code and output. */
export async function refusedServe(dir: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const r = await serveUntilExit(dir, args, {}, REFUSED_WITHIN_MS);
  expect(r.timedOut, `serve must be refused, not keep running:\n${r.output}`).toBe(false);
  return r;
}

/** Writes all messages on one TCP connection; resolves when the socket is closed, by either side, cleanly or not. */
export async function sendTcpLossy(port: number, msgs: Buffer[]): Promise<{ error: string | undefined }> {
  return new Promise((resolve) => {
    let error: string | undefined;
    const s = connect({ port, host: '127.0.0.1' });
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.on('connect', () => s.end(Buffer.concat(msgs.flatMap((m) => [m, Buffer.from('\n')]))));
    s.on('close', () => resolve({ error }));
  });
}

/**
 * Steady load on one TCP connection: `perTick` messages every `tickMs`, tagged prefix-0, prefix-1, ...
 * until stop() or the connection fails (bounded by `maxMs`). `sent` lists what was handed to
 * the socket, in order.
 */
export function steadyLoad(port: number, prefix: string, o: { tickMs?: number; perTick?: number; maxMs?: number } = {}): { sent: string[]; stop(): Promise<void> } {
  const sent: string[] = [];
  const s = connect({ port, host: '127.0.0.1' });
  let open = false;
  let done = false;
  let i = 0;
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  s.on('error', () => undefined);
  s.on('connect', () => (open = true));
  const started = Date.now();
  const timer = setInterval(() => {
    if (done || !open || s.destroyed) return;
    if (Date.now() - started > (o.maxMs ?? 30_000)) return void stop();
    const parts: Buffer[] = [];
    for (let k = 0; k < (o.perTick ?? 3); k++, i++) {
      const tag = `${prefix}-${i}`;
      parts.push(osloMessage(tag), Buffer.from('\n'));
      sent.push(tag);
    }
    s.write(Buffer.concat(parts));
  }, o.tickMs ?? 2);
  const stop = async (): Promise<void> => {
    done = true;
    clearInterval(timer);
    if (!s.destroyed) s.end();
    await Promise.race([closed, sleep(5_000)]);
    s.destroy();
  };
  s.on('close', () => {
    done = true;
    clearInterval(timer);
  });
  return { sent, stop };
}

/** Seeded PRNG, so a failing random schedule can be replayed from its seed. */
export { rng as seededRandom } from '../receive/helpers.js';

/**
 * Runs `serve` expecting it to die on its own before it is up (a fault point hit during the
 * start-up checkpoint). Bounded: killed after `timeoutMs` if it is still alive.
 */
export async function serveUntilExit(dataDir: string, args: string[], env: Record<string, string>, timeoutMs = START_TIMEOUT_MS): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string; timedOut: boolean }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--data-dir', dataDir, '--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('exit', (c, sig) => r([c, sig])));
  clearTimeout(timer);
  return { code, signal, output, timedOut };
}
