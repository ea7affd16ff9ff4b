// `immutalog verify --state FILE`: the auditor's memory of the newest checkpoint it verified.
// A real log is written by a real `serve` in two runs; a copy of its data directory taken
// between the runs is the "older database" of the rollback cases.
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  checkpointAt,
  checkpointHash,
  decodeCheckpoint,
  entryAt,
  failureKeys,
  fingerprintOf,
  osloMessage,
  putCheckpoint,
  readLog,
  range,
  scratchForFile,
  sendCommitted,
  sendTcp,
  setRaw,
  summary,
  verifyCli,
  waitCommitted,
  withDb,
  BIG_AGE,
  type VerifyRun,
} from '../helpers/tamper-log.js';

const scratch = scratchForFile();

/** The log after run 1 (a copy, never written again) and after run 2. */
let OLD: string;
let LOG: string;
let FP: string;
/** A different log (its own identity). */
let OTHER: string;
let stateDir: string;

function verify(dir: string, stateFile: string | undefined, extra: string[] = []): VerifyRun {
  return verifyCli(dir, ['--identity', FP, '--auditor-key', join(dir, 'auditor-key.pem'), ...BIG_AGE, ...(stateFile ? ['--state', stateFile] : []), ...extra]);
}
const stateOf = (file: string): { fingerprint: string; checkpoint: number; hash: string; verified_at: string } => JSON.parse(readFileSync(file, 'utf8'));
let nState = 0;
const newStatePath = (): string => join(stateDir, `state-${nState++}.json`);

beforeAll(async () => {
  const args = ['--checkpoint-entries', '20', '--checkpoint-interval', '3600'];
  LOG = scratch.dir('immutalog-state-log-');
  let d = await scratch.daemon(LOG, args);
  const run1 = range(35, 'run1');
  await sendCommitted(d, run1.slice(0, 20));
  await sendCommitted(d, run1.slice(20), 20);
  expect(await d.stop()).toBe(0);
  OLD = scratch.copy(LOG, 'immutalog-state-old-');

  d = await scratch.daemon(LOG, args);
  const run2 = range(45, 'run2');
  await sendCommitted(d, run2.slice(0, 20), 35);
  await sendCommitted(d, run2.slice(20), 55);
  expect(await d.stop()).toBe(0);
  FP = fingerprintOf(LOG);

  OTHER = scratch.dir('immutalog-state-other-');
  const o = await scratch.daemon(OTHER, args);
  await sendTcp(o.tcpPort, [osloMessage('other-0')]);
  await waitCommitted(o, 0);
  expect(await o.stop()).toBe(0);
  expect(fingerprintOf(OTHER)).not.toBe(FP);

  stateDir = scratch.dir('immutalog-state-files-');
  expect(readLog(LOG).entries.length).toBe(80);
  expect(readLog(OLD).entries.length).toBe(35);
});

/** First run on the older log: the state every other case starts from. */
function firstRun(): { file: string; state: ReturnType<typeof stateOf>; run: VerifyRun } {
  const file = newStatePath();
  const run = verify(OLD, file);
  expect(run.code, summary(run)).toBe(0);
  return { file, state: stateOf(file), run };
}

describe('verify --state', () => {
  it('the first run writes the state file: the newest checkpoint, its hash, the log fingerprint', () => {
    const { file, state, run } = firstRun();
    expect(run.report!.resumedFrom).toBeNull();
    const log = readLog(OLD);
    const newest = log.checkpoints.at(-1)!;
    expect(state.fingerprint).toBe(FP);
    expect(state.checkpoint).toBe(newest.idx);
    expect(state.checkpoint).toBe(run.report!.newestCheckpoint!.index);
    expect(state.hash).toBe(checkpointHash(Buffer.from(newest.bytes)).toString('hex'));
    expect(Number.isNaN(Date.parse(state.verified_at))).toBe(false);
    expect(run.report!.nextState).toEqual(state);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(run.report!.counts.entries).toBe(35);
  });

  it('a second run after more messages resumes from the remembered checkpoint, checks only what is new, and advances the state', () => {
    const { file, state: s1 } = firstRun();
    const full = verify(LOG, undefined);
    expect(full.code, summary(full)).toBe(0);
    const resumed = verify(LOG, file);
    expect(resumed.code, summary(resumed)).toBe(0);
    expect(resumed.report!.failures).toEqual([]);
    expect(resumed.report!.resumedFrom).toBe(s1.checkpoint);

    // Exactly the checkpoints after the remembered one, and the entries they (and the open block) hold.
    const log = readLog(LOG);
    const remembered = log.checkpoints.find((c) => c.idx === s1.checkpoint)!.cp;
    const newEntries = log.entries.filter((e) => e.seq >= remembered.firstSeq + remembered.count).length;
    expect(newEntries).toBe(45);
    expect(resumed.report!.counts.entries).toBe(newEntries);
    expect(resumed.report!.counts.checkpoints).toBe(log.checkpoints.length - (s1.checkpoint + 1));
    expect(resumed.report!.counts.entries).toBeLessThan(full.report!.counts.entries);
    expect(resumed.report!.counts.checkpoints).toBeLessThan(full.report!.counts.checkpoints);

    const s2 = stateOf(file);
    const newest = log.checkpoints.at(-1)!;
    expect(s2.checkpoint).toBe(newest.idx);
    expect(s2.checkpoint).toBeGreaterThan(s1.checkpoint);
    expect(s2.hash).toBe(checkpointHash(Buffer.from(newest.bytes)).toString('hex'));

    // A third run with nothing new: resumes at the newest checkpoint, checks no entries.
    const again = verify(LOG, file);
    expect(again.code, summary(again)).toBe(0);
    expect(again.report!.resumedFrom).toBe(s2.checkpoint);
    expect(again.report!.counts.entries).toBe(0);
    expect(stateOf(file).checkpoint).toBe(s2.checkpoint);
  });

  it('rolled back to the older database after the state advanced: STATE_MISMATCH, exit 1, state file untouched', () => {
    const { file } = firstRun();
    const advancing = verify(LOG, file);
    expect(advancing.code, summary(advancing)).toBe(0);
    const advanced = readFileSync(file, 'utf8');
    const s = stateOf(file);

    const old = scratch.copy(OLD);
    const r = verify(old, file);
    expect(r.code, summary(r)).toBe(1);
    expect(failureKeys(r)).toEqual([`STATE_MISMATCH cp=${s.checkpoint}`]);
    expect(r.report!.failures[0]!.expected).toBe(s.hash);
    expect(r.report!.failures[0]!.actual).toBe('missing');
    expect(r.report!.nextState).toBeNull();
    expect(readFileSync(file, 'utf8')).toBe(advanced);
  });

  it('the remembered checkpoint rewritten in place: STATE_MISMATCH naming it, with the hash found', () => {
    const { file, state } = firstRun();
    const c = scratch.copy(LOG);
    withDb(c, (db) => {
      const cp = decodeCheckpoint(Buffer.from(checkpointAt(db, state.checkpoint).bytes));
      putCheckpoint(db, state.checkpoint, { ...cp, signature: randomBytes(64) });
    });
    const r = verify(c, file);
    expect(r.code, summary(r)).toBe(1);
    const f = r.report!.failures.find((x) => x.code === 'STATE_MISMATCH');
    expect(f).toMatchObject({ checkpoint: state.checkpoint, expected: state.hash });
    expect(f!.actual).toMatch(/^[0-9a-f]{64}$/);
    expect(f!.actual).not.toBe(state.hash);
  });

  it('resuming still catches an edit after the remembered checkpoint, and does not advance the state', () => {
    const { file, state } = firstRun();
    const before = readFileSync(file, 'utf8');
    const c = scratch.copy(LOG);
    const seq = 60;
    withDb(c, (db) => {
      const e = entryAt(db, seq);
      const raw = Buffer.from(e.raw);
      raw[raw.length - 1] ^= 0x20;
      setRaw(db, seq, raw);
    });
    const r = verify(c, file);
    expect(r.code, summary(r)).toBe(1);
    expect(r.report!.resumedFrom).toBe(state.checkpoint);
    expect(r.report!.failures.filter((f) => f.seq !== undefined).map((f) => [f.code, f.seq])).toEqual([['ENTRY_MAC_MISMATCH', seq]]);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('scope: an edit before the remembered checkpoint is not re-checked by a resumed run (it was checked by the run that wrote the state); a full run catches it', () => {
    const { file, state } = firstRun();
    const c = scratch.copy(LOG);
    const seq = 5;
    withDb(c, (db) => {
      const raw = Buffer.from(entryAt(db, seq).raw);
      raw[raw.length - 1] ^= 0x20;
      setRaw(db, seq, raw);
    });
    const resumed = verify(c, file);
    expect(resumed.code, summary(resumed)).toBe(0);
    expect(resumed.report!.resumedFrom).toBe(state.checkpoint);
    const full = verify(c, undefined);
    expect(full.code, summary(full)).toBe(1);
    expect(full.report!.failures.some((f) => f.code === 'ENTRY_MAC_MISMATCH' && f.seq === seq)).toBe(true);
  });

  it('a state file of another log: exit 2 (could not run), no report, state untouched', () => {
    const other = newStatePath();
    const o = verifyCli(OTHER, ['--auditor-key', join(OTHER, 'auditor-key.pem'), ...BIG_AGE, '--state', other]);
    expect(o.code, summary(o)).toBe(0);
    const before = readFileSync(other, 'utf8');
    expect(stateOf(other).fingerprint).not.toBe(FP);
    const r = verify(LOG, other);
    expect(r.code, r.stderr).toBe(2);
    expect(r.report).toBeUndefined();
    expect(r.stderr).not.toBe('');
    expect(readFileSync(other, 'utf8')).toBe(before);
  });

  it('a state file that is not one: exit 2', () => {
    const bad = newStatePath();
    writeFileSync(bad, '{"checkpoint": "three"}\n');
    const r = verify(LOG, bad);
    expect(r.code, r.stderr).toBe(2);
    expect(r.report).toBeUndefined();
    const garbage = newStatePath();
    copyFileSync(join(LOG, 'auditor-key.pem'), garbage);
    expect(verify(LOG, garbage).code).toBe(2);
    expect(existsSync(garbage)).toBe(true);
  });
});
