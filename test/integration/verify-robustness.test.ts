// verify at scale and under fire, on logs written by a real `immutalog serve`: heavy tampering
// stays bounded, state a stop leaves (and a live log) is not called tampering, unreadable input
// is "could not run" in one line, and an auditor's wrong key is the auditor's error.
import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/daemon.js';
import { CLI, REPO_ROOT } from '../helpers/paths.js';
import {
  fingerprintOf,
  osloMessage,
  readLog,
  range,
  scratchForFile,
  sendTcpLossy,
  sleep,
  steadyLoad,
  summary,
  verifyCli,
  waitCommitted,
  waitExit,
  withDb,
  BIG_AGE,
} from '../helpers/tamper-log.js';
import { needClients } from '../clients/available.js';

/** The independent verifier (test/verifier/verify.py) cross-checks one test here. */
const verifyPy = needClients('python3-cryptography');

const scratch = scratchForFile();

/** `verify --json` as a child process, awaited without blocking this process's event loop. */
function verifyAsync(dir: string, args: string[]): Promise<{ code: number | null; report: { counts: { entries: number }; failures: unknown[] } | undefined; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'verify', '--data-dir', dir, '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => {
      let report;
      try {
        report = JSON.parse(out);
      } catch {
        report = undefined;
      }
      resolve({ code, report, stderr: err });
    });
  });
}

const auditorKey = (dir: string): string[] => ['--auditor-key', join(dir, 'auditor-key.pem')];

/** Writes `n` 256-byte LF-framed messages on one TCP connection as fast as the socket takes them. */
async function flood(port: number, n: number): Promise<void> {
  const line = (i: number): string => `<134>1 2026-12-03T00:00:00Z ctl tacker-server 1 - - flood ${String(i).padStart(8, '0')} `.padEnd(255, 'x') + '\n';
  await new Promise<void>((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.on('error', reject);
    s.on('close', () => resolve());
    let i = 0;
    const pump = (): void => {
      while (i < n) {
        const chunk: string[] = [];
        for (let k = 0; k < 1000 && i < n; k++) chunk.push(line(i++));
        if (!s.write(chunk.join(''))) return void s.once('drain', pump);
      }
      s.end();
    };
    s.on('connect', pump);
  });
}

describe('heavy tampering', () => {
  const N = 200_000;
  let dir: string;

  beforeAll(async () => {
    dir = scratch.dir('immutalog-heavy-');
    const d = await scratch.daemon(dir, ['--checkpoint-entries', '16384']);
    await flood(d.tcpPort, N);
    await waitCommitted(d, N - 1, 120_000);
    expect(await d.stop()).toBe(0);
    // Every entry edited: one byte of each raw record.
    withDb(dir, (db) => db.prepare("UPDATE entries SET raw = CAST(replace(CAST(raw AS TEXT), 'flood', 'FLOOD') AS BLOB)").run());
  }, 300_000);

  it(`${N} edited entries: exit 1, the first 1000 listed in log order, every one counted (text and --json)`, () => {
    const fp = fingerprintOf(dir);
    const r = verifyCli(dir, ['--identity', fp, ...BIG_AGE]);
    expect(r.code, r.stderr).toBe(1);
    const rep = r.report as unknown as { failures: { code: string; seq?: number }[]; failureCount: number; failuresByCode: Record<string, number> };
    expect(rep.failures.length).toBe(1000);
    expect(rep.failuresByCode.ENTRY_MAC_MISMATCH).toBe(N);
    expect(rep.failureCount).toBeGreaterThanOrEqual(N);
    const macSeqs = rep.failures.filter((f) => f.code === 'ENTRY_MAC_MISMATCH').map((f) => f.seq!);
    expect(macSeqs[0]).toBe(0);
    expect(macSeqs).toEqual([...macSeqs].sort((a, b) => a - b));
    const text = runCli(['verify', '--data-dir', dir, '--identity', fp, ...BIG_AGE, '--max-failures', '5']);
    expect(text.code, text.stderr).toBe(1);
    expect(text.stdout).toMatch(/ENTRY_MAC_MISMATCH 200000/);
    expect(text.stdout.split('\n').filter((l) => l.startsWith('  ENTRY_') || l.startsWith('  BLOCK_')).length).toBe(5);
    expect(text.stdout).toMatch(/verdict: INTEGRITY FAILURE/);
  });
});

describe('state a stop leaves, and a live log, are not tampering', () => {
  it(verifyPy.partTitle('SIGKILL right after a block switch: the switched block and the new one are unsealed (UNVERIFIED with bounds), not failures', 'the verify.py cross-check'), async () => {
    // Killed once the entries sealed into the new block after the switch are committed too.
    const dir = scratch.dir('immutalog-switch-kill-');
    const d = await scratch.daemon(dir, ['--checkpoint-entries', '10', '--checkpoint-interval', '3600'], { IMMUTALOG_FAULT: 'checkpoint-after-block-switch-settled' });
    await sendTcpLossy(d.tcpPort, range(30).map((i) => osloMessage(`sw-${i}`)));
    expect(await waitExit(d)).toEqual({ code: null, signal: 'SIGKILL' });
    const log = readLog(dir);
    expect(log.checkpoints).toEqual([]);
    const inBlock1 = log.entries.filter((e) => e.block === 1);
    expect(inBlock1.length, 'entries committed in the switched-to block').toBeGreaterThan(0);
    const fp = fingerprintOf(dir);

    const plain = verifyCli(dir, ['--identity', fp, ...BIG_AGE]);
    expect(plain.code, summary(plain)).toBe(0);
    expect(plain.report!.unverified.map((u) => [u.block, u.firstSeq, u.lastSeq])).toEqual([[0, 0, 9], [1, 10, inBlock1.at(-1)!.seq]]);

    // With the auditor key block 0 (its escrow signed by the genesis statement) is checked; block
    // 1's escrow no signature vouches for yet, so it stays unverified, with the reason.
    const audited = verifyCli(dir, ['--identity', fp, ...BIG_AGE, ...auditorKey(dir)]);
    expect(audited.code, summary(audited)).toBe(0);
    expect(audited.report!.unverified.map((u) => u.block)).toEqual([1]);
    expect(audited.report!.unverified[0]!.why).toMatch(/checkpoint 0/);

    // The independent verifier agrees: unsealed, not tampered.
    if (!verifyPy.missing) {
      const py = spawnSync('/usr/bin/python3', [join(REPO_ROOT, 'test', 'verifier', 'verify.py'), dir, '--identity', fp, ...auditorKey(dir)], { encoding: 'utf8' });
      expect(py.status, py.stdout + py.stderr).toBe(0);
      expect(JSON.parse(py.stdout).unverified).toMatch(/block 1: checkpoint 0 is not written yet/);
    }

    // The next start completes checkpoint 0, and then everything verifies.
    const d2 = await scratch.daemon(dir, ['--checkpoint-entries', '10', '--checkpoint-interval', '3600']);
    expect(await d2.stop()).toBe(0);
    const after = verifyCli(dir, ['--identity', fp, ...BIG_AGE, ...auditorKey(dir)]);
    expect(after.code, summary(after)).toBe(0);
    expect(after.report!.unverified).toEqual([]);
  });

  it('a log being written under a paced flood verifies on every run (one snapshot per run)', async () => {
    const dir = scratch.dir('immutalog-live-');
    const d = await scratch.daemon(dir, ['--checkpoint-entries', '200', '--checkpoint-interval', '1']);
    const load = steadyLoad(d.tcpPort, 'live', { tickMs: 2, perTick: 20, maxMs: 60_000 });
    await sleep(1_500);
    const fp = fingerprintOf(dir);
    const runs: string[] = [];
    for (let i = 0; i < 6; i++) {
      // Run asynchronously, so this process keeps sending while verify reads.
      const r = await verifyAsync(dir, ['--identity', fp, ...BIG_AGE, ...auditorKey(dir), '--threads', String(1 + (i % 2))]);
      runs.push(`${r.code}:${r.report?.counts.entries}`);
      expect(r.code, `run ${i}: ${r.stderr} ${JSON.stringify(r.report?.failures?.slice(0, 5))}`).toBe(0);
      expect(r.report!.failures).toEqual([]);
    }
    await load.stop();
    expect(await d.stop()).toBe(0);
    // Each run saw more of the log: it really was being written.
    const seen = runs.map((x) => Number(x.split(':')[1]));
    expect(seen.at(-1)!, runs.join(' ')).toBeGreaterThan(seen[0]!);
  });
});

describe('unreadable input: exit 2, one line', () => {
  let real: string;
  beforeAll(async () => {
    real = scratch.dir('immutalog-unreadable-src-');
    await scratch.stoppedLog(real, ['--checkpoint-entries', '10'], range(25, 'u'));
  });

  const cases: [string, (dir: string) => void][] = [
    ['an empty file', (dir) => writeFileSync(join(dir, 'immutalog.sqlite'), '')],
    ['random bytes', (dir) => writeFileSync(join(dir, 'immutalog.sqlite'), randomBytes(65536))],
    ['a truncated database', (dir) => {
      copyFileSync(join(real, 'immutalog.sqlite'), join(dir, 'immutalog.sqlite'));
      const db = new Database(join(dir, 'immutalog.sqlite'));
      db.pragma('journal_mode = DELETE');
      db.close();
      const full = readFileSync(join(dir, 'immutalog.sqlite'));
      writeFileSync(join(dir, 'immutalog.sqlite'), full.subarray(0, Math.floor(full.length / 3)));
    }],
    ['a directory', (dir) => mkdirSync(join(dir, 'immutalog.sqlite'))],
    ['a foreign SQLite file', (dir) => {
      const db = new Database(join(dir, 'immutalog.sqlite'));
      db.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)');
      db.close();
    }],
    ['a dropped entries table', (dir) => {
      copyFileSync(join(real, 'immutalog.sqlite'), join(dir, 'immutalog.sqlite'));
      const db = new Database(join(dir, 'immutalog.sqlite'));
      db.exec('DROP TABLE entries');
      db.close();
    }],
    ['a dropped checkpoints table', (dir) => {
      copyFileSync(join(real, 'immutalog.sqlite'), join(dir, 'immutalog.sqlite'));
      const db = new Database(join(dir, 'immutalog.sqlite'));
      db.exec('DROP TABLE checkpoints');
      db.close();
    }],
  ];

  for (const [name, make] of cases) {
    it(`${name}: exit 2 with one line naming the file, no stack trace (text and --json)`, () => {
      const dir = scratch.dir('immutalog-unreadable-');
      make(dir);
      for (const json of [[], ['--json']]) {
        const r = runCli(['verify', '--data-dir', dir, ...json]);
        expect(r.code, `${r.stdout}${r.stderr}`).toBe(2);
        expect(r.stdout).toBe('');
        const lines = r.stderr.trim().split('\n');
        expect(lines.length, r.stderr).toBe(1);
        expect(lines[0]).toMatch(/^immutalog: /);
        expect(r.stderr).not.toMatch(/\n\s+at /);
      }
      const b = runCli(['verify', '--bundle', join(dir, 'immutalog.sqlite')]);
      expect(b.code, b.stderr).toBe(2);
      expect(b.stderr.trim().split('\n').length, b.stderr).toBe(1);
    });
  }
});

describe("the auditor's own mistakes", () => {
  let dir: string;
  let other: string;
  beforeAll(async () => {
    dir = scratch.dir('immutalog-auditor-');
    other = scratch.dir('immutalog-auditor-other-');
    await scratch.stoppedLog(dir, ['--checkpoint-entries', '10'], range(25, 'a'));
    const o = await scratch.daemon(other, []);
    expect(await o.stop()).toBe(0);
  });

  it("another log's auditor key: exit 2, 'does not open this log's escrow', not tampering", () => {
    const r = runCli(['verify', '--data-dir', dir, ...BIG_AGE, '--auditor-key', join(other, 'auditor-key.pem')]);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/auditor key does not open this log's escrow/);
    expect(r.stdout).not.toMatch(/BLOCK_ESCROW_MISMATCH/);
  });

  it("the wrong --identity: the report says it does not match, and names no empty place", () => {
    const r = runCli(['verify', '--data-dir', dir, ...BIG_AGE, '--identity', fingerprintOf(other)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/identity pinned: DOES NOT MATCH/);
    expect(r.stdout).not.toMatch(/pinned and matched/);
    expect(r.stdout).toMatch(/^ {2}IDENTITY_MISMATCH: /m);
    expect(r.stdout).not.toMatch(/\(\)/);
  });
});
