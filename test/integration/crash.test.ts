import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditorKeyPairFromPem } from '../../src/chain/keys.js';
import { verifyDatabase } from '../../src/verify/verify-log.js';
import { InlineRunner } from '../../src/verify/runners.js';
import { query, startDaemon, waitFor } from '../helpers/daemon.js';
import { REPO_ROOT } from '../helpers/paths.js';

const { default: Database } = await import('better-sqlite3');

const SENDER = join(REPO_ROOT, 'test', 'bench', 'sender.mjs');

function startSender(port: number, count: number): Promise<{ sent: number; error?: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [SENDER, 'tcp', String(port), String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', () => resolve(JSON.parse(out)));
  });
}

/** The bench sender's messages carry their index as `message NNNNNNNNNN`. */
function indexOf(rawB64: string): number {
  const m = /message (\d{10})/.exec(Buffer.from(rawB64, 'base64').toString('latin1'));
  return m ? Number(m[1]) : -1;
}

describe('crash safety of the write path', () => {
  it('SIGKILL under sustained TCP load loses nothing committed, and the chain continues with no gap', async () => {
    const d1 = await startDaemon();
    const sending = startSender(d1.tcpPort, 5_000_000);
    // Kill once a good number of entries are committed and the stream is still running. The
    // count is read from the database itself: status.json is rewritten every 2 s, in which the
    // daemon commits half a million entries, more than `query` below can hand back in one string.
    const reader = new Database(join(d1.dataDir, 'immutalog.sqlite'), { readonly: true });
    const lastSeq = reader.prepare('SELECT coalesce(max(seq), -1) FROM entries').pluck();
    try {
      await waitFor(() => lastSeq.get() as number, (n) => n > 20_000, 30_000, 10);
    } finally {
      reader.close();
    }
    await d1.kill();
    const first = await sending;
    expect(first.sent).toBeLessThan(5_000_000);

    const d2 = await startDaemon({ dataDir: d1.dataDir });
    const second = await startSender(d2.tcpPort, 10_000);
    expect(second.sent).toBe(10_000);
    await waitFor(() => d2.status()?.last_committed_seq ?? -1, (n) => n >= 0 && d2.status().queue.bytes === 0, 30_000);
    expect(await d2.stop()).toBe(0);

    const rows = query(d1.dataDir);
    // No gap and no duplicate, across the crash.
    expect(rows.every((r, i) => r.seq === i)).toBe(true);
    // Each connection's committed messages are exactly a prefix of what it sent, in order.
    const byPeer = new Map<string, number[]>();
    for (const r of rows) {
      let l = byPeer.get(r.peer);
      if (!l) byPeer.set(r.peer, (l = []));
      l.push(indexOf(r.raw));
    }
    const lists = [...byPeer.values()];
    expect(lists.length).toBe(2);
    for (const l of lists) expect(l.every((v, i) => v === i)).toBe(true);
    expect(lists[1]!.length).toBe(10_000);
    expect(lists[0]!.length).toBeGreaterThan(20_000);

    // Every MAC recomputed with the block keys opened from the auditor's escrow.
    const auditor = auditorKeyPairFromPem(readFileSync(join(d1.dataDir, 'auditor-key.pem'), 'utf8'));
    const database = join(d1.dataDir, 'immutalog.sqlite');
    const runner = new InlineRunner(database);
    const report = await verifyDatabase(database, { auditor, runner, nowUs: Date.now() * 1000, maxCheckpointAgeUs: 600e6 });
    await runner.close();
    expect(report.failures).toEqual([]);
    expect(report.counts.entries).toBe(rows.length);
    expect(report.unverified).toEqual([]);
    // The restart after the kill sealed what was written before it.
    expect(report.counts.checkpoints).toBeGreaterThanOrEqual(2);
  });
});
