// The tamper matrix. Every case starts from a REAL log written by a REAL `immutalog serve` over
// loopback UDP/TCP, tampers a COPY of its data directory with better-sqlite3, and runs the real
// `immutalog verify --json` on it. Assertions are on reason codes and the named seq / block /
// checkpoint index, never on message text.
//
// Three logs are built once in beforeAll:
//   MAIN  240 entries in blocks of at most 20 (interval 2 s), two runs of the daemon, each ended
//         with SIGTERM (so the log ends with a shutdown checkpoint and an empty open block);
//         phase 1 (seq 0..199) is sent, the daemon stopped, then restarted, left idle for two
//         heartbeats, and phase 2 (seq 200..239) sent in bursts over about 8 s.
//   OLD   a copy of MAIN's data directory taken after the first stop: a genuine older state of
//         the same log, used for the rollback cases.
//   OPEN  50 entries, blocks of 20, no heartbeat, ended by SIGKILL: checkpoints 0 and 1 seal
//         seq 0..39, the open block 2 holds seq 40..49 and no checkpoint covers it.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeStoredEntry } from '../../src/chain/encoding.js';
import { escrowBlockKey } from '../../src/chain/escrow.js';
import { genesisHash } from '../../src/chain/mac.js';
import { leafHash, MerkleAccumulator } from '../../src/checkpoint/merkle.js';
import { query } from '../helpers/daemon.js';
import {
  allBlocks,
  allCheckpoints,
  checkpointAt,
  checkpointHash,
  decodeCheckpoint,
  encodeCheckpoint,
  entryAt,
  failureKeys,
  fieldsFor,
  fingerprintOf,
  firstByCheckpoint,
  firstBySeq,
  freshSigner,
  osloMessage,
  putCheckpoint,
  readKeyState,
  readLog,
  rechain,
  resign,
  range,
  scratchForFile,
  sendCommitted,
  sendUdp,
  setRaw,
  sleep,
  summary,
  tagOf,
  verifyCli,
  waitCommitted,
  withDb,
  BIG_AGE,
  type VerifyRun,
} from '../helpers/tamper-log.js';

const scratch = scratchForFile();

let MAIN: string;
let OLD: string;
let OPEN: string;
let FP: string;
let FP_OPEN: string;
/** Every text sent to MAIN, in sending order (phase 1 then phase 2). */
let sentMain: string[];
/** The block (= index of its checkpoint) that holds entry 57, and its range. */
let B57: { block: number; firstSeq: number; count: number };
/** First sequence number of phase 2 (the tail that the truncation case cuts off). */
let PHASE2_FIRST: number;

const text = (raw: Buffer): string => tagOf(raw);

function verifyMain(dir: string, extra: string[] = []): VerifyRun {
  return verifyCli(dir, ['--identity', FP, ...BIG_AGE, ...extra]);
}
function verifyOpen(dir: string, extra: string[] = []): VerifyRun {
  return verifyCli(dir, ['--identity', FP_OPEN, ...BIG_AGE, ...extra]);
}
const auditorKey = (dir: string): string[] => ['--auditor-key', join(dir, 'auditor-key.pem')];

/** Exit 1 and a parseable report: the common precondition of every tamper case. */
function expectFailed(r: VerifyRun): void {
  expect(r.report, summary(r)).toBeDefined();
  expect(r.code, summary(r)).toBe(1);
  expect(r.report!.verdict).toBe('failed');
  expect(r.report!.nextState).toBeNull();
}
function expectVerified(r: VerifyRun): void {
  expect(r.report, summary(r)).toBeDefined();
  expect(r.code, summary(r)).toBe(0);
  expect(r.report!.failures).toEqual([]);
  expect(r.report!.verdict).toBe('verified');
}

/** No failure names anything before `seq` (sequence-wise) or before `block` (block/checkpoint-wise). */
function nothingBefore(r: VerifyRun, where: { seq?: number; block?: number }): void {
  for (const f of r.report!.failures) {
    if (where.seq !== undefined && f.seq !== undefined) expect(f.seq, summary(r)).toBeGreaterThanOrEqual(where.seq);
    if (where.block !== undefined) {
      if (f.block !== undefined) expect(f.block, summary(r)).toBeGreaterThanOrEqual(where.block);
      if (f.checkpoint !== undefined) expect(f.checkpoint, summary(r)).toBeGreaterThanOrEqual(where.block);
    }
  }
}

beforeAll(async () => {
  const args = ['--checkpoint-entries', '20', '--checkpoint-interval', '2'];

  // ---- MAIN, run 1: 100 over TCP, then 100 over UDP.
  MAIN = scratch.dir('immutalog-tamper-main-');
  let d = await scratch.daemon(MAIN, args);
  const tcp1 = range(100).map((i) => `p1-tcp-${String(i).padStart(3, '0')}`);
  const udp1 = range(100).map((i) => `p1-udp-${String(i).padStart(3, '0')}`);
  await sendCommitted(d, tcp1);
  await sendUdp(d.udpPort, udp1.map(osloMessage));
  await waitCommitted(d, 199);
  expect(await d.stop()).toBe(0);
  OLD = scratch.copy(MAIN, 'immutalog-tamper-old-');

  // ---- MAIN, run 2: idle for two heartbeats, then 4 bursts of 10 about 2.5 s apart.
  d = await scratch.daemon(MAIN, args);
  await sleep(4_500);
  const p2 = range(40).map((i) => `p2-tcp-${String(i).padStart(3, '0')}`);
  for (let b = 0; b < 4; b++) {
    await sendCommitted(d, p2.slice(b * 10, b * 10 + 10), 200 + b * 10);
    if (b < 3) await sleep(2_500);
  }
  expect(await d.stop()).toBe(0);
  FP = fingerprintOf(MAIN);
  sentMain = [...tcp1, ...udp1, ...p2];

  // The fixture itself: seq 0..239, every text exactly once, in sending order.
  const log = readLog(MAIN);
  expect(log.entries.map((e) => e.seq)).toEqual(range(240));
  expect(log.entries.map((e) => text(e.raw))).toEqual(sentMain);
  const cp57 = log.checkpoints.find((c) => c.cp.firstSeq <= 57 && 57 < c.cp.firstSeq + c.cp.count)!;
  B57 = { block: cp57.idx, firstSeq: cp57.cp.firstSeq, count: cp57.cp.count };
  expect(entryAt0(log.entries, 57).block).toBe(B57.block);
  PHASE2_FIRST = 200;
  expect(log.checkpoints.at(-1)!.cp.reason).toBe('shutdown');

  // ---- OPEN: no heartbeat, blocks of 20, 50 entries, then SIGKILL.
  OPEN = scratch.dir('immutalog-tamper-open-');
  const o = await scratch.daemon(OPEN, ['--checkpoint-entries', '20', '--checkpoint-interval', '3600']);
  // Sent in three paced parts, each committed (and its checkpoint sealed) before the next, so
  // blocks 0 and 1 hold exactly 20 entries (a burst arriving while a checkpoint is being written
  // would overfill the block being closed; see the report).
  const openTags = range(50).map((i) => `open-${String(i).padStart(3, '0')}`);
  const waitCheckpoints = async (n: number): Promise<void> => {
    for (let i = 0; i < 1200 && (o.status()?.checkpoints_this_run ?? 0) < n; i++) await sleep(50);
    expect(o.status()?.checkpoints_this_run, `${n} checkpoints committed`).toBeGreaterThanOrEqual(n);
  };
  await sendCommitted(o, openTags.slice(0, 20));
  await waitCheckpoints(1);
  await sendCommitted(o, openTags.slice(20, 40), 20);
  await waitCheckpoints(2);
  await sendCommitted(o, openTags.slice(40), 40);
  await o.kill();
  expect(o.child.signalCode).toBe('SIGKILL');
  FP_OPEN = fingerprintOf(OPEN);
  const openLog = readLog(OPEN);
  expect(openLog.entries.map((e) => e.seq)).toEqual(range(50));
  expect(openLog.checkpoints.map((c) => [c.idx, c.cp.firstSeq, c.cp.count])).toEqual([[0, 0, 20], [1, 20, 20]]);
});

function allBlocks0(dir: string): { block: number }[] {
  return readLog(dir).blocks;
}

function entryAt0<T extends { seq: number }>(rows: T[], seq: number): T {
  const r = rows.find((e) => e.seq === seq);
  if (!r) throw new Error(`no entry ${seq}`);
  return r;
}

/** Flips the case of the first letter of " done" at the end of the record: a one-byte edit outside every parsed field. */
function oneByteEdit(raw: Buffer): Buffer {
  const b = Buffer.from(raw);
  const at = b.lastIndexOf(' done') + 1;
  expect(at).toBeGreaterThan(0);
  b[at] = b[at]! ^ 0x20;
  return b;
}

describe('clean logs verify', () => {
  it('an untouched copy verifies with the identity pinned, with and without the auditor key', () => {
    const c = scratch.copy(MAIN);
    const r = verifyMain(c);
    expectVerified(r);
    expect(r.report!.identityPinned).toBe(true);
    expect(r.report!.counts.entries).toBe(240);
    expect(r.report!.found).toMatchObject({ firstSeq: 0, lastSeq: 239 });
    expect(r.report!.unverified).toEqual([]);
    expect(r.report!.newestCheckpoint?.reason).toBe('shutdown');
    const a = verifyMain(c, auditorKey(c));
    expectVerified(a);
    expect(a.report!.counts.entries).toBe(240);
  });

  it('another log under a pinned identity fails IDENTITY_MISMATCH', () => {
    const r = verifyCli(scratch.copy(OPEN), ['--identity', FP, ...BIG_AGE]);
    expectFailed(r);
    expect(r.report!.failures.map((f) => f.code)).toEqual(['IDENTITY_MISMATCH']);
    expect(r.report!.failures[0]!.expected).toBe(FP);
    expect(r.report!.failures[0]!.actual).toBe(FP_OPEN);
  });
});

describe('entry tampering in sealed blocks', () => {
  it('one raw byte of entry 57: ENTRY_MAC_MISMATCH at 57 and BLOCK_ROOT_MISMATCH for its block', () => {
    const c = scratch.copy(MAIN);
    withDb(c, (db) => setRaw(db, 57, oneByteEdit(entryAt(db, 57).raw)));
    const r = verifyMain(c);
    expectFailed(r);
    expect(failureKeys(r)).toEqual([`BLOCK_ROOT_MISMATCH block=${B57.block} cp=${B57.block}`, `ENTRY_MAC_MISMATCH seq=57 block=${B57.block}`]);
    expect(firstBySeq(r)).toMatchObject({ code: 'ENTRY_MAC_MISMATCH', seq: 57 });
  });

  it('the parsed fields of an entry: FIELDS_MISMATCH at that seq and nothing else (fields are outside the MAC)', () => {
    const c = scratch.copy(MAIN);
    withDb(c, (db) => {
      const e = entryAt(db, 123);
      const f = JSON.parse(e.fields);
      expect(f.oslo.level).toBe('INFO');
      f.oslo.level = 'DEBUG';
      db.prepare('UPDATE entries SET fields = ? WHERE seq = 123').run(JSON.stringify(f));
    });
    const r = verifyMain(c);
    expectFailed(r);
    expect(failureKeys(r)).toEqual([`FIELDS_MISMATCH seq=123 block=${blockOf(123)}`]);
  });

  it('a receive time: ENTRY_MAC_MISMATCH at that seq, and dated outside its block', () => {
    const c = scratch.copy(MAIN);
    withDb(c, (db) => db.prepare('UPDATE entries SET received_at_us = received_at_us - 3600000000 WHERE seq = 150').run());
    const r = verifyMain(c);
    expectFailed(r);
    expect(firstBySeq(r)).toMatchObject({ seq: 150 });
    expect(failureKeys(r)).toEqual([`BLOCK_ROOT_MISMATCH block=${blockOf(150)} cp=${blockOf(150)}`, `ENTRY_MAC_MISMATCH seq=150 block=${blockOf(150)}`, `ENTRY_TIME_OUT_OF_BLOCK seq=150 block=${blockOf(150)}`]);
  });

  it('an entry deleted in the middle of a block: SEQ_GAP naming it', () => {
    const c = scratch.copy(MAIN);
    const seq = B57.firstSeq + 5;
    withDb(c, (db) => db.prepare('DELETE FROM entries WHERE seq = ?').run(seq));
    const r = verifyMain(c);
    expectFailed(r);
    expect(firstBySeq(r)).toMatchObject({ code: 'SEQ_GAP', seq, block: B57.block });
    nothingBefore(r, { seq, block: B57.block });
    // The count and root its checkpoint signed no longer match either.
    expect(failureKeys(r)).toEqual(expect.arrayContaining([`BLOCK_COUNT_MISMATCH block=${B57.block} cp=${B57.block}`, `BLOCK_ROOT_MISMATCH block=${B57.block} cp=${B57.block}`]));
  });

  it('the last entry of a sealed block deleted: SEQ_GAP naming it', () => {
    const c = scratch.copy(MAIN);
    const seq = B57.firstSeq + B57.count - 1;
    withDb(c, (db) => db.prepare('DELETE FROM entries WHERE seq = ?').run(seq));
    const r = verifyMain(c);
    expectFailed(r);
    expect(firstBySeq(r)).toMatchObject({ code: 'SEQ_GAP', seq, block: B57.block });
    nothingBefore(r, { seq, block: B57.block });
  });

  it('an entry inserted at the end of a sealed block (later entries renumbered): failure at the inserted seq', () => {
    const c = scratch.copy(MAIN);
    const seq = B57.firstSeq + B57.count; // right after the block's last entry
    withDb(c, (db) => {
      const prev = entryAt(db, seq - 1);
      // Make room: seq >= s moves up by one (through negative keys, so the primary key never collides).
      db.prepare('UPDATE entries SET seq = -seq - 1 WHERE seq >= ?').run(seq);
      db.prepare('UPDATE entries SET seq = -seq WHERE seq < 0').run();
      const raw = osloMessage('forged-insert');
      db.prepare(
        `INSERT INTO entries (seq, block, received_at_us, transport, flags, listener, peer_address, peer_port, raw, mac, fields)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(seq, prev.block, prev.received_at_us + 1, prev.transport, prev.flags, prev.listener, prev.peer_address, prev.peer_port, raw, randomBytes(32), fieldsFor(raw));
    });
    const r = verifyMain(c);
    expectFailed(r);
    const first = firstBySeq(r)!;
    expect(first.seq, summary(r)).toBe(seq);
    // Filed under the sealed block, but its seq is past that block's signed range; and its MAC is forged.
    // (Dated just after its predecessor, it also lies before the checkpoint that opened the block its seq is in.)
    expect(r.report!.failures.filter((f) => f.seq === seq).map((f) => f.code).sort()).toEqual(['ENTRY_BLOCK_MISMATCH', 'ENTRY_MAC_MISMATCH', 'ENTRY_TIME_OUT_OF_BLOCK']);
    // The block it was slipped into is untouched as far as its checkpoint is concerned.
    nothingBefore(r, { seq, block: B57.block + 1 });
  });

  it('the raw bytes (and fields) of two entries swapped: ENTRY_MAC_MISMATCH at the first', () => {
    const c = scratch.copy(MAIN);
    const [a, b] = [61, 64];
    withDb(c, (db) => {
      const ea = entryAt(db, a);
      const eb = entryAt(db, b);
      const upd = db.prepare('UPDATE entries SET raw = ?, fields = ? WHERE seq = ?');
      upd.run(eb.raw, eb.fields, a);
      upd.run(ea.raw, ea.fields, b);
    });
    const r = verifyMain(c);
    expectFailed(r);
    expect(firstBySeq(r)).toMatchObject({ code: 'ENTRY_MAC_MISMATCH', seq: a });
    const macs = r.report!.failures.filter((f) => f.code === 'ENTRY_MAC_MISMATCH').map((f) => f.seq);
    expect(macs).toEqual([a, b]);
    expect(r.report!.failures.some((f) => f.code === 'BLOCK_ROOT_MISMATCH' && f.checkpoint === blockOf(a))).toBe(true);
    nothingBefore(r, { seq: a, block: blockOf(a) });
  });
});

/** Block of a MAIN entry (stable across copies). */
function blockOf(seq: number): number {
  return entryAt0(readLogCached().entries, seq).block;
}
let cachedMain: ReturnType<typeof readLog> | undefined;
function readLogCached(): ReturnType<typeof readLog> {
  cachedMain ??= readLog(scratch.copy(MAIN));
  return cachedMain;
}

describe('tail truncation and rollback: what content checks cannot see, freshness and state can', () => {
  it('newest entries and the checkpoints after them deleted: content verifies; CHECKPOINT_STALE where the untampered log is fresh', async () => {
    const c = scratch.copy(MAIN);
    // Cut at the start of the block that holds the first phase-2 entry; remove it, every
    // checkpoint from that block on, and the blocks after it. What remains is exactly what a
    // receiver that died right after checkpoint k-1 would have left.
    const k = blockOf(PHASE2_FIRST);
    withDb(c, (db) => {
      const blk = allBlocks(db).find((b) => b.block === k)!;
      expect(blk.first_seq).toBe(PHASE2_FIRST);
      const before = checkpointAt(db, k - 1);
      const cp = decodeCheckpoint(Buffer.from(before.bytes));
      expect(cp.firstSeq + cp.count).toBe(PHASE2_FIRST);
      db.prepare('DELETE FROM entries WHERE seq >= ?').run(PHASE2_FIRST);
      db.prepare('DELETE FROM checkpoints WHERE idx >= ?').run(k);
      db.prepare('DELETE FROM blocks WHERE block > ?').run(k);
    });
    const untampered = scratch.copy(MAIN);

    // 1. Content checks alone cannot see a clean tail cut: every remaining entry, block and
    //    checkpoint is genuine, even with the auditor key.
    const content = verifyMain(c, auditorKey(c));
    expectVerified(content);
    expect(content.report!.found.lastSeq).toBe(PHASE2_FIRST - 1);
    expect(content.report!.newestCheckpoint!.index).toBe(k - 1);

    // 2. Freshness with a max age between the two newest checkpoints' ages, as a live auditor
    //    of a running receiver would use it (max age > heartbeat interval): the untampered log's
    //    newest checkpoint (its shutdown) is within the age; the cut log's newest is not.
    const times = (dir: string): number => readLog(dir).checkpoints.at(-1)!.time_us;
    const nowUs = Date.now() * 1000;
    const ageUntampered = (nowUs - times(untampered)) / 1e6;
    const ageCut = (nowUs - times(c)) / 1e6;
    expect(ageCut - ageUntampered, 'the cut removed at least 6 s of tail').toBeGreaterThanOrEqual(6);
    // Half-way between the two: the untampered copy stays fresh as long as starting verify takes
    // less than about 2 s (the margin on a loaded host); the cut one is stale whatever the delay.
    const maxAge = String(Math.floor(ageUntampered + (ageCut - ageUntampered) / 2));
    const fresh = verifyCli(untampered, ['--identity', FP, '--max-checkpoint-age', maxAge]);
    expectVerified(fresh);
    const stale = verifyCli(c, ['--identity', FP, '--max-checkpoint-age', maxAge]);
    expectFailed(stale);
    expect(failureKeys(stale)).toEqual([`CHECKPOINT_STALE cp=${k - 1}`]);

    // 3. What freshness cannot show: it is a statement about time, not content. With a max age
    //    shorter than the time since the receiver stopped, the UNTAMPERED log is just as stale,
    //    so a stopped receiver and a cut tail look the same; and a cut shorter than the max age
    //    (or made while the receiver keeps sealing new checkpoints) is not visible to it at all.
    const sinceStop = Date.now() * 1000 - times(untampered);
    if (sinceStop < 2_000_000) await sleep(Math.ceil((2_000_000 - sinceStop) / 1000));
    const s1 = verifyCli(untampered, ['--identity', FP, '--max-checkpoint-age', '1']);
    const s2 = verifyCli(c, ['--identity', FP, '--max-checkpoint-age', '1']);
    expectFailed(s1);
    expectFailed(s2);
    expect(s1.report!.failures.map((f) => f.code)).toEqual(['CHECKPOINT_STALE']);
    expect(s2.report!.failures.map((f) => f.code)).toEqual(['CHECKPOINT_STALE']);
  });

  it('database rolled back to an older copy: STATE_MISMATCH against the state of a newer verify; freshness without state', () => {
    const newer = scratch.copy(MAIN);
    const old = scratch.copy(OLD);
    const stateFile = join(scratch.dir('immutalog-tamper-state-'), 'auditor-state.json');
    const first = verifyMain(newer, ['--state', stateFile, ...auditorKey(newer)]);
    expectVerified(first);
    const state = first.report!.nextState!;
    expect(state.checkpoint).toBe(first.report!.newestCheckpoint!.index);

    // The old copy is a genuine earlier state of the same log: on its own it verifies.
    expectVerified(verifyMain(old, auditorKey(old)));
    expect(readLog(old).checkpoints.at(-1)!.idx).toBeLessThan(state.checkpoint);

    const r = verifyMain(old, ['--state', stateFile]);
    expectFailed(r);
    expect(r.report!.failures.map((f) => [f.code, f.checkpoint])).toEqual([['STATE_MISMATCH', state.checkpoint]]);
    expect(r.report!.failures[0]!.actual).toBe('missing');
    expect(r.report!.failures[0]!.expected).toBe(state.hash);

    // Without state: freshness, with a max age that the newer copy meets (see the truncation case
    // for what this can and cannot show).
    const t = (dir: string): number => readLog(dir).checkpoints.at(-1)!.time_us;
    const nowUs = Date.now() * 1000;
    const ageNew = (nowUs - t(newer)) / 1e6;
    const ageOld = (nowUs - t(old)) / 1e6;
    expect(ageOld - ageNew).toBeGreaterThanOrEqual(6);
    const maxAge = String(Math.floor(ageNew + (ageOld - ageNew) / 2));
    expectVerified(verifyCli(newer, ['--identity', FP, '--max-checkpoint-age', maxAge]));
    const stale = verifyCli(old, ['--identity', FP, '--max-checkpoint-age', maxAge]);
    expectFailed(stale);
    expect(failureKeys(stale)).toEqual([`CHECKPOINT_STALE cp=${readLog(old).checkpoints.at(-1)!.idx}`]);
  });

  it('a forged entry appended after the last seq: unverified without the auditor key, ENTRY_MAC_MISMATCH with it', () => {
    const append = (dir: string, at: (newestCheckpointUs: number, lastEntryUs: number) => number): { seq: number; openBlock: number } =>
      withDb(dir, (db) => {
        const last = entryAt(db, 239);
        const openBlock = allBlocks(db).at(-1)!.block;
        const raw = osloMessage('forged-append');
        db.prepare(
          `INSERT INTO entries (seq, block, received_at_us, transport, flags, listener, peer_address, peer_port, raw, mac, fields)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(240, openBlock, at(allCheckpoints(db).at(-1)!.cp.timeUs, last.received_at_us), last.transport, last.flags, last.listener, last.peer_address, last.peer_port, raw, randomBytes(32), fieldsFor(raw));
        return { seq: 240, openBlock };
      });
    // Dated before the newest checkpoint, it cannot be in the open block: caught without any key.
    const early = scratch.copy(MAIN);
    append(early, (_cp, lastUs) => lastUs + 1);
    const caught = verifyMain(early);
    expectFailed(caught);
    expect(failureKeys(caught)).toEqual([`ENTRY_TIME_OUT_OF_BLOCK seq=240 block=${allBlocks0(early).at(-1)!.block}`]);
    // Dated after it, as a careful forger would:
    const c = scratch.copy(MAIN);
    const { seq, openBlock } = append(c, (cpUs) => cpUs + 1);
    // Documented limit: an entry after the newest checkpoint is in the open block, whose MACs
    // only the auditor key can check. Without it verify does not fail, but it does not vouch
    // for the entry either: it is reported in `unverified` with its bounds.
    const plain = verifyMain(c);
    expectVerified(plain);
    expect(plain.report!.unverified.map((u) => [u.block, u.firstSeq, u.lastSeq])).toEqual([[openBlock, seq, seq]]);
    const audited = verifyMain(c, auditorKey(c));
    expectFailed(audited);
    expect(failureKeys(audited)).toEqual([`ENTRY_MAC_MISMATCH seq=${seq} block=${openBlock}`]);
    expect(audited.report!.unverified).toEqual([]);
  });
});

describe('checkpoint tampering', () => {
  const k = (): number => B57.block;

  it('a field inside the signed bytes (time, row kept consistent): CHECKPOINT_SIGNATURE_INVALID at that index', () => {
    const c = scratch.copy(MAIN);
    withDb(c, (db) => {
      const cp = decodeCheckpoint(Buffer.from(checkpointAt(db, k()).bytes));
      putCheckpoint(db, k(), { ...cp, timeUs: cp.timeUs + 1 }, { rowTime: true });
    });
    const r = verifyMain(c);
    expectFailed(r);
    // The next checkpoint commits to this one's hash, so it no longer chains on it.
    expect(failureKeys(r)).toEqual([`CHECKPOINT_PREVIOUS_MISMATCH cp=${k() + 1}`, `CHECKPOINT_SIGNATURE_INVALID cp=${k()}`]);
    expect(firstByCheckpoint(r)).toMatchObject({ code: 'CHECKPOINT_SIGNATURE_INVALID', checkpoint: k() });
  });

  it('the entry count inside the signed bytes: CHECKPOINT_SIGNATURE_INVALID at that index, nothing earlier', () => {
    const c = scratch.copy(MAIN);
    withDb(c, (db) => {
      const cp = decodeCheckpoint(Buffer.from(checkpointAt(db, k()).bytes));
      putCheckpoint(db, k(), { ...cp, count: cp.count - 1 });
    });
    const r = verifyMain(c);
    expectFailed(r);
    expect(r.report!.failures.some((f) => f.code === 'CHECKPOINT_SIGNATURE_INVALID' && f.checkpoint === k())).toBe(true);
    expect(firstByCheckpoint(r)!.checkpoint).toBe(k());
    nothingBefore(r, { block: k(), seq: B57.firstSeq });
  });

  it('a checkpoint deleted: CHECKPOINT_MISSING at that index', () => {
    const c = scratch.copy(MAIN);
    withDb(c, (db) => db.prepare('DELETE FROM checkpoints WHERE idx = ?').run(k()));
    const r = verifyMain(c);
    expectFailed(r);
    expect(firstByCheckpoint(r)).toMatchObject({ code: 'CHECKPOINT_MISSING', checkpoint: k() });
    expect(r.report!.failures.filter((f) => f.code === 'CHECKPOINT_MISSING').map((f) => f.checkpoint)).toEqual([k()]);
    nothingBefore(r, { block: k(), seq: B57.firstSeq });
  });

  it('a checkpoint changed and re-signed with a fresh Ed25519 key: CHECKPOINT_SIGNATURE_INVALID at that index', () => {
    const c = scratch.copy(MAIN);
    withDb(c, (db) => {
      const cp = decodeCheckpoint(Buffer.from(checkpointAt(db, k()).bytes));
      putCheckpoint(db, k(), resign({ ...cp, timeUs: cp.timeUs + 1 }, freshSigner()), { rowTime: true });
    });
    const r = verifyMain(c);
    expectFailed(r);
    expect(failureKeys(r)).toEqual([`CHECKPOINT_PREVIOUS_MISMATCH cp=${k() + 1}`, `CHECKPOINT_SIGNATURE_INVALID cp=${k()}`]);
  });

  it('the whole checkpoint chain from one index on rewritten with an attacker key chain: only that first checkpoint fails', () => {
    const c = scratch.copy(MAIN);
    withDb(c, (db) => {
      const rows = allCheckpoints(db).filter((r) => r.idx >= k());
      let signer = freshSigner();
      let previousHash: Buffer | undefined;
      for (const row of rows) {
        const next = freshSigner();
        const forged = resign({ ...row.cp, previousHash: previousHash ?? row.cp.previousHash, nextSigningKey: next.publicKey }, signer);
        putCheckpoint(db, row.idx, forged, { rowTime: true });
        previousHash = checkpointHash(encodeCheckpoint(forged));
        signer = next;
      }
    });
    const r = verifyMain(c);
    expectFailed(r);
    // Every later checkpoint is consistent with the forged chain; the forgery shows exactly
    // where it joins the genuine one, because that checkpoint must be signed by the key the
    // genuine checkpoint k-1 certified.
    expect(failureKeys(r)).toEqual([`CHECKPOINT_SIGNATURE_INVALID cp=${k()}`]);
  });

  it('the disclosed block key replaced, without re-signing: CHECKPOINT_SIGNATURE_INVALID at that index', () => {
    const c = scratch.copy(MAIN);
    withDb(c, (db) => {
      const cp = decodeCheckpoint(Buffer.from(checkpointAt(db, k()).bytes));
      putCheckpoint(db, k(), { ...cp, blockKey: randomBytes(32) });
    });
    const r = verifyMain(c);
    expectFailed(r);
    expect(firstByCheckpoint(r)).toMatchObject({ code: 'CHECKPOINT_SIGNATURE_INVALID', checkpoint: k() });
    // With the wrong key none of the block's MACs check out.
    expect(firstBySeq(r)).toMatchObject({ code: 'ENTRY_MAC_MISMATCH', seq: B57.firstSeq });
    nothingBefore(r, { block: k(), seq: B57.firstSeq });
  });

  it('the disclosed block key replaced and the checkpoint re-signed with a fresh key: CHECKPOINT_SIGNATURE_INVALID at that index', () => {
    const c = scratch.copy(MAIN);
    withDb(c, (db) => {
      const cp = decodeCheckpoint(Buffer.from(checkpointAt(db, k()).bytes));
      putCheckpoint(db, k(), resign({ ...cp, blockKey: randomBytes(32) }, freshSigner()));
    });
    const r = verifyMain(c);
    expectFailed(r);
    expect(firstByCheckpoint(r)).toMatchObject({ code: 'CHECKPOINT_SIGNATURE_INVALID', checkpoint: k() });
    nothingBefore(r, { block: k(), seq: B57.firstSeq });
  });
});

describe('the open block (after the newest checkpoint)', () => {
  it('untouched: unverified without the auditor key, verified with it', () => {
    const c = scratch.copy(OPEN);
    const plain = verifyOpen(c);
    expectVerified(plain);
    expect(plain.report!.unverified.map((u) => [u.block, u.firstSeq, u.lastSeq])).toEqual([[2, 40, 49]]);
    expect(plain.report!.counts.openBlockEntries).toBe(10);
    const audited = verifyOpen(c, auditorKey(c));
    expectVerified(audited);
    expect(audited.report!.unverified).toEqual([]);
    expect(audited.report!.counts.entries).toBe(50);
  });

  it('an entry of the open block edited: reported unverified without the auditor key, ENTRY_MAC_MISMATCH with it', () => {
    const c = scratch.copy(OPEN);
    withDb(c, (db) => setRaw(db, 45, oneByteEdit(entryAt(db, 45).raw)));
    const plain = verifyOpen(c);
    expectVerified(plain);
    expect(plain.report!.unverified.map((u) => [u.block, u.firstSeq, u.lastSeq])).toEqual([[2, 40, 49]]);
    const audited = verifyOpen(c, auditorKey(c));
    expectFailed(audited);
    expect(failureKeys(audited)).toEqual(['ENTRY_MAC_MISMATCH seq=45 block=2']);
  });
});

describe('attacker holding the current keystate.json (A2)', () => {
  it('rewriting an open-block entry with the current block key passes, even with the auditor key (documented: the open block is not protected against A2)', () => {
    const c = scratch.copy(OPEN);
    const ks = readKeyState(c);
    expect(ks.block).toBe(2);
    const forged = osloMessage('open-045-REWRITTEN');
    withDb(c, (db) => {
      db.prepare('UPDATE entries SET raw = ?, fields = ? WHERE seq = 45').run(forged, fieldsFor(forged));
      rechain(db, 45, () => Buffer.from(ks.block_key, 'hex'));
    });
    const r = verifyOpen(c, auditorKey(c));
    expectVerified(r);
    expect(Buffer.from(query(c).find((e) => e.seq === 45)!.raw, 'base64').equals(forged)).toBe(true);
  });

  it('rewriting an entry before the newest checkpoint, MACs recomputed with the current key: ENTRY_MAC_MISMATCH at it', () => {
    const c = scratch.copy(OPEN);
    const key = Buffer.from(readKeyState(c).block_key, 'hex');
    const forged = osloMessage('open-025-REWRITTEN');
    withDb(c, (db) => {
      db.prepare('UPDATE entries SET raw = ?, fields = ? WHERE seq = 25').run(forged, fieldsFor(forged));
      rechain(db, 25, () => key);
    });
    const r = verifyOpen(c, auditorKey(c));
    expectFailed(r);
    expect(firstBySeq(r)).toMatchObject({ code: 'ENTRY_MAC_MISMATCH', seq: 25, block: 1 });
    nothingBefore(r, { seq: 25, block: 1 });
  });

  it('... with the block key disclosed in its checkpoint: the MACs check out but BLOCK_HEAD_MISMATCH and BLOCK_ROOT_MISMATCH at that checkpoint', () => {
    const c = scratch.copy(OPEN);
    const k2 = Buffer.from(readKeyState(c).block_key, 'hex');
    const forged = osloMessage('open-025-REWRITTEN');
    withDb(c, (db) => {
      const k1 = decodeCheckpoint(Buffer.from(checkpointAt(db, 1).bytes)).blockKey;
      db.prepare('UPDATE entries SET raw = ?, fields = ? WHERE seq = 25').run(forged, fieldsFor(forged));
      rechain(db, 25, (e) => (e.block === 1 ? k1 : k2));
    });
    const r = verifyOpen(c, auditorKey(c));
    expectFailed(r);
    const keys = failureKeys(r);
    expect(keys).toEqual(expect.arrayContaining(['BLOCK_HEAD_MISMATCH block=1 cp=1', 'BLOCK_ROOT_MISMATCH block=1 cp=1']));
    expect(r.report!.failures.some((f) => f.seq === 25)).toBe(false);
    nothingBefore(r, { block: 1 });
  });

  it('... and checkpoint 1 re-signed over the new head and root with the current signing key: CHECKPOINT_SIGNATURE_INVALID at 1 (forward security)', () => {
    const c = scratch.copy(OPEN);
    const ks = readKeyState(c);
    const k2 = Buffer.from(ks.block_key, 'hex');
    const stolen = { publicKey: Buffer.from(ks.signing_public, 'hex'), privateKey: Buffer.from(ks.signing_private, 'hex') };
    const forged = osloMessage('open-025-REWRITTEN');
    withDb(c, (db) => {
      const cp1 = decodeCheckpoint(Buffer.from(checkpointAt(db, 1).bytes));
      db.prepare('UPDATE entries SET raw = ?, fields = ? WHERE seq = 25').run(forged, fieldsFor(forged));
      rechain(db, 25, (e) => (e.block === 1 ? cp1.blockKey : k2));
      const acc = new MerkleAccumulator();
      let head = Buffer.alloc(0);
      for (const e of db.prepare('SELECT * FROM entries WHERE block = 1 ORDER BY seq').all() as any[]) {
        acc.addLeafHash(leafHash(encodeStoredEntry(e)));
        head = Buffer.from(e.mac);
      }
      putCheckpoint(db, 1, resign({ ...cp1, chainHead: head, entryRoot: acc.root() }, stolen));
    });
    const r = verifyOpen(c, auditorKey(c));
    expectFailed(r);
    // Everything the attacker could recompute is consistent; the one thing they could not is a
    // signature by the key checkpoint 0 certified, which the writer erased after using it.
    expect(failureKeys(r)).toEqual(['CHECKPOINT_SIGNATURE_INVALID cp=1']);
  });
});

/**
 * A1 (database write access, no key file) replaces the whole log: deletes every checkpoint,
 * files every entry under block 0, gives block 0 an escrow of a key of its own (the auditor's
 * public key is in `meta`), rewrites an entry, re-MACs the chain from the genesis hash (public)
 * with its key, and sets `meta.created_at` to now so that "no checkpoint at all" is not stale.
 */
function forgeWholeLog(dir: string, forgedSeq: number, forged: Buffer): void {
  withDb(dir, (db) => {
    const meta = Object.fromEntries((db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
    const key = randomBytes(32);
    db.transaction(() => {
      db.prepare('DELETE FROM checkpoints').run();
      db.prepare('DELETE FROM blocks WHERE block > 0').run();
      db.prepare('UPDATE entries SET block = 0').run();
      db.prepare("UPDATE meta SET value = ? WHERE key = 'created_at'").run(new Date().toISOString());
      db.prepare('UPDATE blocks SET escrow = ? WHERE block = 0').run(escrowBlockKey(key, Buffer.from(meta.auditor_public!, 'hex'), Buffer.from(meta.fingerprint!, 'hex'), 0));
      db.prepare('UPDATE entries SET raw = ?, fields = ? WHERE seq = ?').run(forged, fieldsFor(forged), forgedSeq);
    })();
    rechain(db, 0, () => key, genesisHash(Buffer.from(meta.identity_public!, 'hex')));
  });
}

describe('every checkpoint deleted and the log re-keyed by A1', () => {
  const forged = osloMessage('p1-tcp-057-FORGED');

  it('the forgery is real: the copy has no checkpoint and serves the forged record; an auditor with --state catches it (STATE_MISMATCH)', () => {
    const genuine = scratch.copy(MAIN);
    const stateFile = join(scratch.dir('immutalog-tamper-state-'), 'auditor-state.json');
    expectVerified(verifyMain(genuine, ['--state', stateFile]));
    const c = scratch.copy(MAIN);
    forgeWholeLog(c, 57, forged);
    expect(readLog(c).checkpoints).toEqual([]);
    expect(Buffer.from(query(c).find((e) => e.seq === 57)!.raw, 'base64').equals(forged)).toBe(true);
    const r = verifyMain(c, ['--state', stateFile]);
    expectFailed(r);
    expect(r.report!.failures.map((f) => f.code)).toContain('STATE_MISMATCH');
  });

  // This once passed verify: deleting ALL checkpoints left no gap to report, the "no checkpoint at
  // all" freshness check trusted the unsigned meta.created_at, and block 0's escrow came from the
  // unsigned blocks table. The genesis statement (creation time and block 0's escrow, signed by
  // the identity key at creation) closes it.
  it('verify without --state rejects the re-keyed log (exit 1)', () => {
    const c = scratch.copy(MAIN);
    forgeWholeLog(c, 57, forged);
    const r = verifyCli(c, ['--identity', FP, ...auditorKey(c)]);
    expect(r.code, summary(r)).toBe(1);
  });
});
