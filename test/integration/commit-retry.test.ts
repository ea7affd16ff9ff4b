// A commit that fails is retried with the same rows until it succeeds, and nothing accepted is
// lost or reordered. The failure here is real: another process holds SQLite's write lock (as a
// backup tool or a stray `sqlite3` shell would), so the storage thread's inserts end in
// SQLITE_BUSY after its busy timeout, again and again, until the lock is released.

import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { query, runCli, startDaemon, waitFor } from '../helpers/daemon.js';
import { osloMessage, sendTcp, sendUdp, tagOf, waitCommitted, waitExit } from '../helpers/tamper-log.js';

describe('storage commits that fail', () => {
  it('are retried until the database takes them: every accepted message lands, in order, and the log verifies', async () => {
    const d = await startDaemon({ args: ['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--checkpoint-interval', '3600'] });
    try {
      const before = Array.from({ length: 20 }, (_, i) => `before-${i}`);
      await sendTcp(d.tcpPort, before.map(osloMessage));
      await waitCommitted(d, before.length - 1);

      // Take the write lock and keep it.
      const blocker = new Database(join(d.dataDir, 'immutalog.sqlite'));
      blocker.exec('BEGIN IMMEDIATE');
      let released = false;
      try {
        const during = Array.from({ length: 300 }, (_, i) => `during-${i}`);
        await sendTcp(d.tcpPort, during.slice(0, 200).map(osloMessage));
        await sendUdp(d.udpPort, during.slice(200).map(osloMessage));
        // The daemon reports the failed commit (status.json is rewritten every 2 s) and has
        // committed nothing more; it keeps accepting meanwhile.
        const s = await waitFor(() => d.status(), (v) => (v?.queue?.commit_failures ?? 0) >= 1, 30_000, 100);
        expect(s.queue.commit_failures).toBeGreaterThanOrEqual(1);
        expect(s.queue.last_error).toMatch(/locked|busy/i);
        expect(s.last_committed_seq).toBe(before.length - 1);

        blocker.exec('ROLLBACK');
        released = true;
        await waitCommitted(d, before.length + during.length - 1);
        const rows = query(d.dataDir);
        expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: before.length + during.length }, (_, i) => i));
        const tags = rows.map((r) => tagOf(Buffer.from(r.raw, 'base64')));
        expect(tags.slice(0, before.length)).toEqual(before);
        // TCP in its order; the datagrams after it, in theirs.
        expect(tags.slice(before.length)).toEqual(during);
        expect(d.status().queue.last_error).toBeNull();
      } finally {
        if (!released) blocker.exec('ROLLBACK');
        blocker.close();
      }
      expect(await d.stop()).toBe(0);
      const v = runCli(['verify', '--data-dir', d.dataDir, '--auditor-key', join(d.dataDir, 'auditor-key.pem')]);
      expect(v.code, v.stdout + v.stderr).toBe(0);
    } finally {
      if (d.child.exitCode === null && d.child.signalCode === null) await d.kill();
    }
  });
});

describe('a stop while commits keep failing', () => {
  it('ends within 30 s, logs exactly which accepted messages were not written, and a restart keeps every committed one and verifies', async () => {
    const d = await startDaemon({ args: ['--tcp', '127.0.0.1:0', '--checkpoint-interval', '3600'] });
    const blocker = new Database(join(d.dataDir, 'immutalog.sqlite'));
    try {
      const before = Array.from({ length: 20 }, (_, i) => `before-${i}`);
      await sendTcp(d.tcpPort, before.map(osloMessage));
      await waitCommitted(d, before.length - 1);
      blocker.exec('BEGIN IMMEDIATE');
      const during = Array.from({ length: 200 }, (_, i) => `during-${i}`);
      await sendTcp(d.tcpPort, during.map(osloMessage));
      await waitFor(() => d.status(), (v) => (v?.queue?.commit_failures ?? 0) >= 1 && v.next_seq === before.length + during.length, 30_000, 100);

      const t0 = Date.now();
      d.child.kill('SIGTERM');
      const { code } = await waitExit(d, 45_000);
      // The bound: a stop never waits on storage for ever.
      expect(Date.now() - t0, d.stderr()).toBeLessThan(30_000);
      expect(code).toBe(1);
      expect(d.stderr()).toMatch(new RegExp(`: ${during.length} accepted messages could not be written \\(sequence numbers ${before.length} to ${before.length + during.length - 1}\\)`));
    } finally {
      if (blocker.inTransaction) blocker.exec('ROLLBACK');
      blocker.close();
      if (d.child.exitCode === null && d.child.signalCode === null) await d.kill();
    }
    const again = await startDaemon({ dataDir: d.dataDir, args: ['--tcp', '127.0.0.1:0', '--checkpoint-interval', '3600'] });
    expect(await again.stop(), again.stderr()).toBe(0);
    expect(query(d.dataDir).map((r) => tagOf(Buffer.from(r.raw, 'base64')))).toEqual(Array.from({ length: 20 }, (_, i) => `before-${i}`));
    const v = runCli(['verify', '--data-dir', d.dataDir, '--auditor-key', join(d.dataDir, 'auditor-key.pem')]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });
});
