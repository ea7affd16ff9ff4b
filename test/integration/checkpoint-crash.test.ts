// Crash safety of the checkpoint write order (src/ingest/checkpointer.ts, src/log/recovery.ts).
// A real `immutalog serve` is made to SIGKILL itself at each fault point of src/ingest/fault.ts
// (IMMUTALOG_FAULT), or is SIGKILLed from outside at random moments under load; it is then
// restarted without the fault, fed more, stopped cleanly, and the log must verify with the
// auditor key and the pinned identity, with sequence numbers 0..n-1 and every committed message
// present exactly once.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FAULT_POINTS, type FaultPoint } from '../../src/ingest/fault.js';
import { query } from '../helpers/daemon.js';
import {
  expectVerified,
  osloMessage,
  range,
  readKeyState,
  readLog,
  scratchForFile,
  seededRandom,
  sendCommitted,
  serveUntilExit,
  sendTcpLossy,
  sleep,
  steadyLoad,
  tagOf,
  tagsOf,
  waitExit,
} from '../helpers/tamper-log.js';

const scratch = scratchForFile();

/** The whole audit: exit 0, no failure, nothing left unverified. */
function expectFullyVerified(dir: string): void {
  const r = expectVerified(dir);
  expect(r.report!.failures).toEqual([]);
  expect(r.report!.unverified).toEqual([]);
  expect(r.report!.identityPinned).toBe(true);
}

/** What each fault point leaves on disk for checkpoint 0 (the write order of checkpointer.ts). */
const EXPECTED_ON_DISK: Record<FaultPoint, { pending: boolean; block1Row: boolean; checkpoint0: boolean; keyBlock: number }> = {
  'checkpoint-after-pending-keys': { pending: true, block1Row: false, checkpoint0: false, keyBlock: 0 },
  'checkpoint-after-block-switch': { pending: true, block1Row: true, checkpoint0: false, keyBlock: 0 },
  'checkpoint-after-block-switch-settled': { pending: true, block1Row: true, checkpoint0: false, keyBlock: 0 },
  'checkpoint-after-commit': { pending: true, block1Row: true, checkpoint0: true, keyBlock: 0 },
  // Promoted, and already holding the keys chosen for checkpoint 1.
  'checkpoint-after-promote': { pending: true, block1Row: true, checkpoint0: true, keyBlock: 1 },
};

describe('a crash at each checkpoint fault point is recovered', () => {
  it('FAULT_POINTS is the set this test knows', () => {
    expect([...FAULT_POINTS].sort()).toEqual(Object.keys(EXPECTED_ON_DISK).sort());
  });

  for (const point of FAULT_POINTS) {
    it(`IMMUTALOG_FAULT=${point}: dies by SIGKILL, restarts, loses nothing committed, verifies`, async () => {
      const dir = scratch.dir(`immutalog-fault-${point}-`);
      const args = ['--checkpoint-entries', '10', '--checkpoint-interval', '3600'];
      const d1 = await scratch.daemon(dir, args, { IMMUTALOG_FAULT: point });
      const run1 = range(30).map((i) => `run1-${String(i).padStart(2, '0')}`);
      await sendTcpLossy(d1.tcpPort, run1.map(osloMessage));
      const exit = await waitExit(d1);
      expect(exit, `the daemon must die at ${point}; stderr:\n${d1.stderr()}`).toEqual({ code: null, signal: 'SIGKILL' });

      // The crash left exactly the state this point names (so the fault really fired there).
      const ks = readKeyState(dir);
      const before = readLog(dir);
      const want = EXPECTED_ON_DISK[point];
      expect({
        pending: ks.next_block_key !== undefined,
        block1Row: before.blocks.some((b) => b.block === 1),
        checkpoint0: before.checkpoints.some((c) => c.idx === 0),
        keyBlock: ks.block,
      }).toEqual(want);
      // Committed before the crash: a prefix of what was sent, in order, no repeat; from the
      // block switch on, at least the whole first block.
      const committed1 = before.entries.map((e) => tagOf(e.raw));
      expect(before.entries.map((e) => e.seq)).toEqual(range(committed1.length));
      expect(committed1).toEqual(run1.slice(0, committed1.length));
      if (point !== 'checkpoint-after-pending-keys') expect(committed1.length).toBeGreaterThanOrEqual(10);

      // Restart without the fault, five more, clean stop.
      const d2 = await scratch.daemon(dir, args);
      const run2 = range(5, 'run2');
      await sendCommitted(d2, run2, committed1.length);
      expect(await d2.stop()).toBe(0);
      expect(existsSync(join(dir, 'immutalog.sqlite'))).toBe(true);

      const rows = query(dir);
      expect(rows.map((r) => r.seq)).toEqual(range(committed1.length + 5));
      expect(tagsOf(rows)).toEqual([...committed1, ...run2]);
      // Nothing committed before the crash was rewritten by recovery.
      const after = readLog(dir);
      for (const e of before.entries) {
        const a = after.entries[e.seq]!;
        expect(Buffer.from(a.raw).equals(Buffer.from(e.raw)) && Buffer.from(a.mac).equals(Buffer.from(e.mac)), `entry ${e.seq} unchanged`).toBe(true);
      }
      // The key state is settled and every checkpoint is there.
      expect(readKeyState(dir).next_block_key).toBeUndefined();
      expect(after.checkpoints.map((c) => c.idx)).toEqual(range(after.checkpoints.length));
      expect(after.checkpoints.at(-1)!.cp.reason).toBe('shutdown');
      expectFullyVerified(dir);
    });
  }
});

describe('a crash loop in the start-up (restart) checkpoint is recovered', () => {
  for (const point of FAULT_POINTS) {
    it(`three starts in a row dying at ${point} during the restart checkpoint, then a clean start: verifies, nothing lost`, async () => {
      const dir = scratch.dir(`immutalog-faultloop-${point}-`);
      const args = ['--checkpoint-entries', '10', '--checkpoint-interval', '3600'];
      // A log with content, cleanly stopped, so that every start owes a restart checkpoint.
      const first = range(15, 'first');
      await scratch.stoppedLog(dir, args, first);
      const checkpointsBefore = readLog(dir).checkpoints.length;

      for (let attempt = 0; attempt < 3; attempt++) {
        const r = await serveUntilExit(dir, args, { IMMUTALOG_FAULT: point });
        expect(r.timedOut, `start ${attempt} must die at ${point}:\n${r.output}`).toBe(false);
        expect([r.code, r.signal], r.output).toEqual([null, 'SIGKILL']);
      }
      // Each start past the key step sealed (or finished sealing) something before dying; one
      // dying right after the pending keys are durable seals nothing (recovery keeps the keys for
      // the next attempt). Either way nothing was lost.
      const mid = readLog(dir);
      expect(mid.entries.map((e) => tagOf(e.raw))).toEqual(first);
      if (point === 'checkpoint-after-pending-keys') expect(mid.checkpoints.length).toBe(checkpointsBefore);
      else expect(mid.checkpoints.length).toBeGreaterThan(checkpointsBefore);

      const d = await scratch.daemon(dir, args);
      const last = range(5, 'last');
      await sendCommitted(d, last, 15);
      expect(await d.stop()).toBe(0);
      const rows = query(dir);
      expect(rows.map((r) => r.seq)).toEqual(range(20));
      expect(tagsOf(rows)).toEqual([...first, ...last]);
      expect(readKeyState(dir).next_block_key).toBeUndefined();
      expectFullyVerified(dir);
    });
  }
});

describe('SIGKILL from outside at random moments under steady load', () => {
  it('several kills in a row with small blocks: no gap, no repeat, each round a prefix of what it sent, verifies', async () => {
    const seed = Number(process.env.IMMUTALOG_TEST_SEED ?? Date.now() % 1_000_000_007);
    const rnd = seededRandom(seed);
    const why = `seed ${seed} (IMMUTALOG_TEST_SEED=${seed} replays the schedule)`;
    const dir = scratch.dir('immutalog-randkill-');
    const args = ['--checkpoint-entries', '7', '--checkpoint-interval', '1'];
    const ROUNDS = 5;
    const sentByRound: string[][] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const d = await scratch.daemon(dir, args);
      const load = steadyLoad(d.tcpPort, `k${round}`, { tickMs: 2, perTick: 3, maxMs: 20_000 });
      // Let some of it in, then kill at a random moment (150..1150 ms into the load).
      await waitFor(() => load.sent.length > 0, 5_000);
      await sleep(150 + Math.floor(rnd() * 1000));
      await d.kill();
      expect(d.child.signalCode, why).toBe('SIGKILL');
      await load.stop();
      sentByRound.push([...load.sent]);
    }
    // A last clean run.
    const d = await scratch.daemon(dir, args);
    const tail = range(5, 'final');
    const committedSoFar = readLogCount(dir);
    await sendCommitted(d, tail, committedSoFar);
    expect(await d.stop()).toBe(0);

    const rows = query(dir);
    expect(rows.map((r) => r.seq), why).toEqual(range(rows.length));
    const got = tagsOf(rows);
    expect(new Set(got).size, `no message twice; ${why}`).toBe(got.length);
    // Rounds are sequential, so the log is round 0's committed prefix, then round 1's, ...
    let at = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const mine = got.filter((t) => t.startsWith(`k${round}-`));
      expect(got.slice(at, at + mine.length), `round ${round} contiguous; ${why}`).toEqual(mine);
      expect(mine, `round ${round}: a prefix of what was sent; ${why}`).toEqual(sentByRound[round]!.slice(0, mine.length));
      expect(mine.length, `round ${round} committed something; ${why}`).toBeGreaterThan(0);
      at += mine.length;
    }
    expect(got.slice(at), why).toEqual(tail);
    expectFullyVerified(dir);
  });
});

function readLogCount(dir: string): number {
  return readLog(dir).entries.length;
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond() && Date.now() < end) await sleep(10);
  if (!cond()) throw new Error('condition not met in time');
}
