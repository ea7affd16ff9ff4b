import { spawnSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fieldsToJson, parseRecord } from '../../src/parse/index.js';
import { CLI } from '../helpers/paths.js';
import { tempDataDir } from '../helpers/daemon.js';
import { entryAt, osloMessage, scratchForFile, waitCommitted, withDb, BIG_AGE } from '../helpers/tamper-log.js';
import { sendTcp } from '../helpers/send.js';
import { needClients } from '../clients/available.js';

// verify's C fields check only spares work: on a real log written by a real daemon, with the
// fields column edited the ways an attacker might (a level changed, the same JSON written with
// an escape or another key order, another entry's fields, a space, another parser version),
// `verify --json` gives the same report on IMMUTALOG_FIELDS=native as on =js, and both name
// exactly the edited entries.

const clients = needClients('fields-addon');
const scratch = scratchForFile();

/** Real shapes: oslo context lines (the C writes these), an oslo JSON body and non-ASCII (left to TypeScript). */
function message(i: number): Buffer {
  if (i % 10 === 3) return Buffer.from(`<134>1 2026-11-26T12:00:00Z ctl tacker-server 4242 - - {"levelname": "INFO", "name": "tacker.x", "process": 4242, "message": "m ${i}"}`);
  if (i % 10 === 7) return Buffer.from(`<134>1 2026-11-26T12:00:00Z ctl tacker-server 4242 - - 2026-11-26 12:00:00.000 4242 INFO tacker.caf\u00e9 [-] m ${i}`);
  return osloMessage(`m${i}`);
}

function verify(dataDir: string, fields: string): { code: number | null; report: { failures: unknown[]; counts: unknown; verdict: string }; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'verify', '--data-dir', dataDir, '--json', ...BIG_AGE], { env: { ...process.env, IMMUTALOG_FIELDS: fields } });
  return { code: r.status, report: JSON.parse(r.stdout.toString()), stderr: r.stderr.toString() };
}

/** The report without what differs from one run to the next (timings). */
function comparable(r: ReturnType<typeof verify>): unknown {
  const { failures, counts, verdict } = r.report;
  return { code: r.code, failures, counts, verdict };
}

describe('verify on both fields paths', () => {
  clients.it('gives the same report on a real log, untouched and with its fields column edited, and names every edit', async () => {
    const dir = tempDataDir();
    const d = await scratch.daemon(dir, ['--checkpoint-entries', '100']);
    await sendTcp(d.tcpPort, Array.from({ length: 300 }, (_, i) => message(i)));
    await waitCommitted(d, 299);
    expect(await d.stop()).toBe(0);

    for (const path of ['native', 'js']) expect(verify(dir, path).code).toBe(0);

    const edited = join(tempDataDir(), 'log');
    cpSync(dir, edited, { recursive: true });
    const edits: Record<number, (fields: string, db: Parameters<Parameters<typeof withDb>[1]>[0]) => string> = {
      10: (f) => f.replace('"level":"INFO"', '"level":"DEBUG"'),
      // The same JSON value in other bytes: `-` written as \u002d (a string compare still differs).
      20: (f) => f.replace('"app":"tacker-server"', '"app":"tacker\\u002dserver"'),
      30: (f) => JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(f)).reverse())),
      40: (_f, db) => entryAt(db, 41).fields,
      50: (f) => `${f} `,
      60: (f) => f.replace('{"v":1,', '{"v":2,'),
      // A JSON record's fields (the TypeScript path) and a non-ASCII one's.
      63: (f) => f.replace('"logger":"tacker.x"', '"logger":"tacker.y"'),
      77: (f) => f.replace('tacker.caf', 'tacker.cof'),
    };
    withDb(edited, (db) => {
      for (const [seq, edit] of Object.entries(edits)) {
        const before = entryAt(db, Number(seq)).fields;
        expect(before).toBe(fieldsToJson(parseRecord(entryAt(db, Number(seq)).raw)));
        const after = edit(before, db);
        expect(after, `edit of ${seq}`).not.toBe(before);
        db.prepare('UPDATE entries SET fields = ? WHERE seq = ?').run(after, Number(seq));
      }
    });
    const native = verify(edited, 'native');
    const js = verify(edited, 'js');
    expect(comparable(native)).toEqual(comparable(js));
    expect(native.code).toBe(1);
    const named = (native.report.failures as { code: string; seq: number }[]).map((f) => `${f.code} ${f.seq}`);
    expect(named).toEqual(Object.keys(edits).map((s) => `FIELDS_MISMATCH ${s}`));
  }, 120_000);

  it('IMMUTALOG_FIELDS with another value: every command refuses in one line, exit 2', () => {
    const r = spawnSync(process.execPath, [CLI, 'status', '--data-dir', tempDataDir()], { env: { ...process.env, IMMUTALOG_FIELDS: 'fast' } });
    expect(r.status).toBe(2);
    expect(r.stderr.toString()).toBe('immutalog: IMMUTALOG_FIELDS: expected auto, native or js, got "fast"\n');
  });
});
