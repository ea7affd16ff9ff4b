import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query, runCli, startDaemon, waitFor, type QueriedEntry } from '../helpers/daemon.js';
import { sendUdp } from '../helpers/send.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function verifyBundle(bundle: string, extra: string[] = []): { code: number | null; report: any } {
  const r = runCli(['verify', '--bundle', bundle, '--json', ...extra]);
  return { code: r.code, report: r.stdout ? JSON.parse(r.stdout) : undefined };
}

describe('export and verify --bundle', () => {
  let dataDir: string;
  let fingerprint: string;
  let rows: QueriedEntry[];
  let splitAt: string;
  const elsewhere = mkdtempSync(join(tmpdir(), 'immutalog-elsewhere-'));

  beforeAll(async () => {
    const d = await startDaemon({ args: ['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--checkpoint-entries', '10'] });
    dataDir = d.dataDir;
    await sendUdp(d.udpPort, Array.from({ length: 35 }, (_, i) => `<134>1 - - tacker-server - - - first ${i}`));
    await waitFor(() => query(dataDir).length, (n) => n === 35);
    await sleep(50);
    splitAt = new Date().toISOString();
    await sleep(50);
    await sendUdp(d.udpPort, Array.from({ length: 35 }, (_, i) => `<134>1 - - tacker-server - - - second ${i}`));
    await waitFor(() => query(dataDir).length, (n) => n === 70);
    expect(await d.stop()).toBe(0);
    rows = query(dataDir);
    fingerprint = JSON.parse(runCli(['status', '--data-dir', dataDir, '--json']).stdout).database.fingerprint;
  });
  afterAll(() => rmSync(elsewhere, { recursive: true, force: true }));

  it('a whole-log bundle verifies from another directory with only the bundle', () => {
    const made = join(dataDir, 'all.bundle');
    expect(runCli(['export', '--data-dir', dataDir, '--out', made]).code).toBe(0);
    const bundle = join(elsewhere, 'all.bundle');
    copyFileSync(made, bundle);
    const r = verifyBundle(bundle, ['--identity', fingerprint]);
    expect(r.code).toBe(0);
    expect(r.report.failures).toEqual([]);
    expect(r.report.counts.entries).toBe(70);
    // The bundle never carries the writer's keys.
    const db = new Database(bundle, { readonly: true });
    const keys = (db.prepare('SELECT key FROM meta').all() as { key: string }[]).map((k) => k.key);
    db.close();
    expect(keys.some((k) => /private|block_key|signing/.test(k))).toBe(false);
  });

  it('a range bundle holds the whole blocks covering the range and verifies', () => {
    const bundle = join(elsewhere, 'second.bundle');
    expect(runCli(['export', '--data-dir', dataDir, '--out', bundle, '--since', splitAt]).code).toBe(0);
    const r = verifyBundle(bundle, ['--identity', fingerprint]);
    expect(r.code).toBe(0);
    expect(r.report.failures).toEqual([]);
    const first = rows.find((x) => x.received_at >= splitAt.replace('Z', '000Z'))!.seq;
    expect(r.report.found.firstSeq).toBeLessThanOrEqual(first);
    expect(r.report.found.lastSeq).toBe(69);
    expect(r.report.counts.entries).toBeLessThan(70);
    expect(r.report.counts.entries).toBeGreaterThanOrEqual(35);
  });

  it('refuses to overwrite an existing file (exit 2)', () => {
    const bundle = join(elsewhere, 'exists.bundle');
    expect(runCli(['export', '--data-dir', dataDir, '--out', bundle]).code).toBe(0);
    const again = runCli(['export', '--data-dir', dataDir, '--out', bundle]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('refusing to overwrite');
  });

  // Any byte of any stored column of an entry, changed in the bundle, is caught and located.
  const columns: [string, string][] = [
    ['raw', 'ENTRY_MAC_MISMATCH'],
    ['mac', 'ENTRY_MAC_MISMATCH'],
    ['listener', 'ENTRY_MAC_MISMATCH'],
    ['peer_address', 'ENTRY_MAC_MISMATCH'],
    ['fields', 'FIELDS_MISMATCH'],
  ];
  for (const [column, code] of columns) {
    for (const which of [3, 41, 69]) {
      it(`a changed byte of ${column} of entry ${which}: exit 1, named`, () => {
        const bundle = join(elsewhere, `t-${column}-${which}.bundle`);
        expect(runCli(['export', '--data-dir', dataDir, '--out', bundle]).code).toBe(0);
        const db = new Database(bundle);
        const row = db.prepare(`SELECT ${column} AS v FROM entries WHERE seq = ?`).get(which) as { v: Buffer | string };
        const bytes = Buffer.from(row.v as any);
        const at = bytes.length > 5 ? 5 : 0;
        bytes[at] = bytes[at]! ^ 0x01;
        db.prepare(`UPDATE entries SET ${column} = ? WHERE seq = ?`).run(typeof row.v === 'string' ? bytes.toString('latin1') : bytes, which);
        db.close();
        const r = verifyBundle(bundle, ['--identity', fingerprint]);
        expect(r.code).toBe(1);
        expect(r.report.failures.some((f: any) => f.code === code && f.seq === which)).toBe(true);
      });
    }
  }

  for (const column of ['received_at_us', 'peer_port', 'flags', 'transport']) {
    it(`a changed ${column} of entry 20: exit 1, named`, () => {
      const bundle = join(elsewhere, `t-${column}.bundle`);
      expect(runCli(['export', '--data-dir', dataDir, '--out', bundle]).code).toBe(0);
      const db = new Database(bundle);
      db.prepare(`UPDATE entries SET ${column} = ${column} + 1 WHERE seq = 20`).run();
      db.close();
      const r = verifyBundle(bundle);
      expect(r.code).toBe(1);
      expect(r.report.failures.some((f: any) => f.seq === 20 && /^ENTRY_(MAC_MISMATCH|BAD_ENCODING)$/.test(f.code))).toBe(true);
    });
  }
});
