// The counters table is gone from the schema (nothing ever wrote it), but logs made before hold
// it: such a log must still open for writing, take entries, verify and export as before.

import Database from 'better-sqlite3';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LogStore } from '../../src/store/log-store.js';
import { query, runCli, startDaemon, tempDataDir, waitFor } from '../helpers/daemon.js';

/** The table as the schema of earlier releases created it. */
const OLD_COUNTERS_TABLE = `
CREATE TABLE IF NOT EXISTS counters (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT;
INSERT INTO counters (name, value) VALUES ('received', 3);`;

const tables = (path: string): string[] => {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
};

async function send(port: number, texts: string[]): Promise<void> {
  const u = createSocket('udp4');
  for (const t of texts) await new Promise<void>((r, j) => u.send(Buffer.from(t), port, '127.0.0.1', (e) => (e ? j(e) : r())));
  u.close();
}

async function serveAndSend(dataDir: string, texts: string[], total: number): Promise<void> {
  const d = await startDaemon({ dataDir, args: ['--udp', '127.0.0.1:0', '--checkpoint-entries', '4'] });
  await send(d.udpPort, texts);
  await waitFor(() => query(dataDir).length, (n) => n === total);
  expect(await d.stop()).toBe(0);
}

describe('the counters table', () => {
  it('is not in a new log', () => {
    const path = join(tempDataDir('immutalog-counters-'), 'new.sqlite');
    LogStore.open(path, { create: true }).close();
    expect(tables(path)).toEqual(['anchor_proofs', 'anchor_txs', 'anchor_version_proofs', 'anchors', 'blocks', 'checkpoints', 'entries', 'meta']);
  });

  it('in a log made before does not stop it from opening, taking entries, verifying or exporting', async () => {
    const dataDir = tempDataDir('immutalog-counters-');
    const database = join(dataDir, 'immutalog.sqlite');
    await serveAndSend(dataDir, ['<134>1 - - app - - - before 0', '<134>1 - - app - - - before 1', '<134>1 - - app - - - before 2'], 3);
    const db = new Database(database);
    db.exec(OLD_COUNTERS_TABLE);
    db.close();

    await serveAndSend(dataDir, Array.from({ length: 6 }, (_, i) => `<134>1 - - app - - - after ${i}`), 9);
    expect(tables(database)).toContain('counters');
    const status = JSON.parse(runCli(['status', '--data-dir', dataDir, '--json']).stdout);
    expect(status.database.entries).toBe(9);

    const auditorKey = ['--auditor-key', join(dataDir, 'auditor-key.pem')];
    const v = runCli(['verify', '--data-dir', dataDir, '--json', ...auditorKey]);
    expect([v.code, JSON.parse(v.stdout).failures]).toEqual([0, []]);
    const bundle = join(dataDir, 'all.bundle');
    expect(runCli(['export', '--data-dir', dataDir, '--out', bundle]).code).toBe(0);
    expect(tables(bundle)).not.toContain('counters');
    const b = runCli(['verify', '--bundle', bundle, '--json', '--identity', status.database.fingerprint, ...auditorKey]);
    expect([b.code, JSON.parse(b.stdout).counts.entries]).toEqual([0, 9]);
  });
});
