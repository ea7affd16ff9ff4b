// Range and bundle attacks: `verify --since/--until` and `verify --bundle` must decide what they
// check from signed checkpoints only. Each case tampers a COPY of a log written by a real
// `immutalog serve` (three phases of traffic a few seconds apart, blocks of 20) and expects exit
// 1 with the reason code; before the fix each of them printed VERIFIED.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatUs } from '../../src/cli/time-arg.js';
import { runCli } from '../helpers/daemon.js';
import {
  fingerprintOf,
  osloMessage,
  readLog,
  range,
  scratchForFile,
  sendCommitted,
  sleep,
  summary,
  verifyCli,
  withDb,
  BIG_AGE,
  type VerifyRun,
} from '../helpers/tamper-log.js';

const scratch = scratchForFile();
let LOG: string;
let FP: string;
/** Phase B's receive times: the auditor's window. */
let WINDOW: { sinceUs: number; untilUs: number; firstSeq: number; lastSeq: number };

beforeAll(async () => {
  LOG = scratch.dir('immutalog-range-');
  const d = await scratch.daemon(LOG, ['--checkpoint-entries', '20', '--checkpoint-interval', '1']);
  let seq = -1;
  for (const phase of ['a', 'b', 'c']) {
    // Two bursts per phase, so each phase spans several blocks.
    for (const half of [0, 1]) {
      await sendCommitted(d, range(30, `${phase}${half}`), seq + 1);
      seq += 30;
    }
    await sleep(2_500);
  }
  expect(await d.stop()).toBe(0);
  FP = fingerprintOf(LOG);
  const log = readLog(LOG);
  const b = log.entries.filter((e) => e.raw.toString('latin1').includes('] b'));
  expect(b.length).toBe(60);
  WINDOW = { sinceUs: b[0]!.received_at_us, untilUs: b.at(-1)!.received_at_us + 1, firstSeq: b[0]!.seq, lastSeq: b.at(-1)!.seq };
  // The window is strictly inside the log, with whole sealed blocks before and after it.
  expect(log.entries[0]!.received_at_us).toBeLessThan(WINDOW.sinceUs);
  expect(log.entries.at(-1)!.received_at_us).toBeGreaterThan(WINDOW.untilUs);
});

const windowArgs = (): string[] => ['--since', formatUs(WINDOW.sinceUs), '--until', formatUs(WINDOW.untilUs)];
const verifyWindow = (dir: string, extra: string[] = []): VerifyRun => verifyCli(dir, ['--identity', FP, ...BIG_AGE, ...windowArgs(), ...extra]);
const codes = (r: VerifyRun): Set<string> => new Set((r.report?.failures ?? []).map((f) => f.code));

function expectFailedWith(r: VerifyRun, oneOf: string[]): void {
  expect(r.report, summary(r)).toBeDefined();
  expect(r.code, summary(r)).toBe(1);
  expect(r.report!.verdict).toBe('failed');
  expect(oneOf.some((c) => codes(r).has(c)), `${summary(r)}: expected one of ${oneOf.join(', ')}`).toBe(true);
}

/** The raw bytes of every entry from `fromSeq` on replaced by a forgery (fields kept consistent). */
function forgeFrom(db: Database.Database, fromSeq: number): void {
  const rows = db.prepare('SELECT seq FROM entries WHERE seq >= ?').all(fromSeq) as { seq: number }[];
  const upd = db.prepare('UPDATE entries SET raw = ? WHERE seq = ?');
  db.transaction(() => {
    for (const r of rows) upd.run(osloMessage(`forged-${r.seq}`), r.seq);
  })();
}

describe('the untouched log', () => {
  it('the window verifies, and the report states the signed range it proved around the window', () => {
    const r = verifyWindow(LOG);
    expect(r.code, summary(r)).toBe(0);
    const proved = (r.report as unknown as { proved: { firstSeq: number; endSeq: number; fromUs: number; toUs: number } }).proved;
    expect(proved.firstSeq).toBeLessThanOrEqual(WINDOW.firstSeq);
    expect(proved.endSeq).toBeGreaterThan(WINDOW.lastSeq);
    expect(proved.fromUs).toBeLessThanOrEqual(WINDOW.sinceUs);
    expect(proved.toUs).toBeGreaterThanOrEqual(WINDOW.untilUs - 1);
    // Only the blocks around the window were read, not the whole log.
    expect(r.report!.counts.entries).toBeLessThan(180);
    expect(r.report!.counts.entries).toBeGreaterThanOrEqual(60);
  });
});

describe('range attacks on a database', () => {
  it("the window's rows deleted: the signed checkpoints say they exist", () => {
    const c = scratch.copy(LOG);
    withDb(c, (db) => db.prepare('DELETE FROM entries WHERE received_at_us >= ? AND received_at_us < ?').run(WINDOW.sinceUs, WINDOW.untilUs));
    const r = verifyWindow(c);
    expectFailedWith(r, ['BLOCK_COUNT_MISMATCH', 'SEQ_GAP']);
  });

  it('receive times moved out of the window and the rows forged', () => {
    const c = scratch.copy(LOG);
    withDb(c, (db) => {
      db.prepare('UPDATE entries SET received_at_us = received_at_us + 86400000000 WHERE seq BETWEEN ? AND ?').run(WINDOW.firstSeq, WINDOW.lastSeq);
      const upd = db.prepare('UPDATE entries SET raw = ? WHERE seq = ?');
      for (let s = WINDOW.firstSeq; s <= WINDOW.lastSeq; s++) upd.run(osloMessage(`forged-${s}`), s);
    });
    const r = verifyWindow(c);
    expectFailedWith(r, ['ENTRY_TIME_OUT_OF_BLOCK', 'ENTRY_MAC_MISMATCH']);
    expect(codes(r).has('ENTRY_TIME_OUT_OF_BLOCK'), summary(r)).toBe(true);
  });

  it('one receive time moved far ahead and every later row forged', () => {
    const c = scratch.copy(LOG);
    withDb(c, (db) => {
      db.prepare('UPDATE entries SET received_at_us = received_at_us + 10 * 365 * 86400000000 WHERE seq = ?').run(WINDOW.firstSeq - 1);
      forgeFrom(db, WINDOW.firstSeq);
    });
    const r = verifyWindow(c);
    expectFailedWith(r, ['ENTRY_MAC_MISMATCH']);
    expect(r.report!.counts.entries, summary(r)).toBeGreaterThanOrEqual(60);
  });

  it('every checkpoint time moved (rows only; the signed bytes are what count) changes nothing', () => {
    const c = scratch.copy(LOG);
    withDb(c, (db) => db.prepare('UPDATE checkpoints SET time_us = 0').run());
    const r = verifyWindow(c);
    expectFailedWith(r, ['CHECKPOINT_ROW_MISMATCH']);
    expect(r.report!.counts.entries).toBeGreaterThanOrEqual(60);
  });
});

describe('bundle attacks', () => {
  const exportWindow = (args: string[]): string => {
    const out = join(scratch.dir('immutalog-range-bundle-'), 'w.bundle');
    const r = runCli(['export', '--data-dir', LOG, '--out', out, ...args]);
    expect(r.code, r.stderr).toBe(0);
    return out;
  };
  const verifyBundle = (bundle: string, extra: string[] = []): VerifyRun => {
    const r = runCli(['verify', '--bundle', bundle, '--json', '--identity', FP, ...BIG_AGE, ...extra]);
    let report;
    try {
      report = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
    } catch {
      report = undefined;
    }
    return { code: r.code, report, stdout: r.stdout, stderr: r.stderr };
  };
  const withBundle = <T>(bundle: string, fn: (db: Database.Database) => T): T => {
    const db = new Database(bundle);
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };

  it('an untouched window bundle verifies for the window, and fails for a range it does not hold (RANGE_NOT_COVERED)', () => {
    const b = exportWindow(windowArgs());
    const ok = verifyBundle(b);
    expect(ok.code, summary(ok)).toBe(0);
    const ownWindow = verifyBundle(b, windowArgs());
    expect(ownWindow.code, summary(ownWindow)).toBe(0);
    const wider = verifyBundle(b, ['--until', formatUs(WINDOW.untilUs)]);
    expectFailedWith(wider, ['RANGE_NOT_COVERED']);
  });

  it("the bundle's range metadata narrowed and its entries forged", () => {
    const b = exportWindow(windowArgs());
    withBundle(b, (db) => {
      const far = String(WINDOW.untilUs + 365 * 86400e6);
      for (const [k, v] of [['bundle_first_seq', '999999'], ['bundle_end_seq', '999999'], ['bundle_since_us', far], ['bundle_until_us', far]]) {
        db.prepare('UPDATE meta SET value = ? WHERE key = ?').run(v, k);
      }
      forgeFrom(db, 0);
    });
    const r = verifyBundle(b);
    expectFailedWith(r, ['ENTRY_MAC_MISMATCH']);
  });

  it('a bundle missing the entries of a block in the middle of its range', () => {
    const b = exportWindow([]);
    const middle = readLog(LOG).checkpoints.find((c) => c.cp.firstSeq > WINDOW.firstSeq && c.cp.count > 0)!.cp;
    withBundle(b, (db) => db.prepare('DELETE FROM entries WHERE seq >= ? AND seq < ?').run(middle.firstSeq, middle.firstSeq + middle.count));
    const r = verifyBundle(b);
    expectFailedWith(r, ['RANGE_NOT_COVERED']);
    expect(r.report!.failures.find((f) => f.code === 'RANGE_NOT_COVERED')!.block).toBe(middle.index);
  });

  it('a bundle missing some entries in the middle of a block', () => {
    const b = exportWindow([]);
    withBundle(b, (db) => db.prepare('DELETE FROM entries WHERE seq IN (?, ?)').run(WINDOW.firstSeq + 3, WINDOW.firstSeq + 4));
    const r = verifyBundle(b);
    expectFailedWith(r, ['SEQ_GAP']);
  });

  it("a bundle whose checkpoint chain does not reach back to genesis", () => {
    const b = exportWindow(windowArgs());
    withBundle(b, (db) => db.prepare('DELETE FROM checkpoints WHERE idx < 2').run());
    const r = verifyBundle(b);
    expectFailedWith(r, ['CHECKPOINT_MISSING']);
  });
});
