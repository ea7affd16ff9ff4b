// Entries.rangeForVerify reads raw and mac as one concatenated BLOB and splits it: it must give
// back exactly what Entries.range gives, for any bytes (NUL, invalid UTF-8, empty, long).

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogStore, type EntryRow } from '../../src/store/log-store.js';
import { SCHEMA_SQL } from '../../src/store/schema.js';
import { rng } from '../receive/helpers.js';
import { appendRows } from '../helpers/store-rows.js';

const dir = mkdtempSync(join(tmpdir(), 'immutalog-verify-read-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const AWKWARD: Buffer[] = [
  Buffer.alloc(0),
  Buffer.from([0x00]),
  Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x0a, 0x00]),
  Buffer.from('<134>1 - host app - - - caf\u00e9 \u{1f600}\n', 'utf8'),
  Buffer.from([0xed, 0xa0, 0x80]), // an encoded surrogate: not UTF-8
  Buffer.alloc(70_000, 0x00),
];

function rows(): EntryRow[] {
  const r = rng(7);
  const out: EntryRow[] = [];
  for (let i = 0; i < 300; i++) {
    const raw = i < AWKWARD.length ? AWKWARD[i]! : randomBytes(Math.floor(r() * 600));
    out.push({
      seq: i, block: 0, received_at_us: 1_700_000_000_000_000 + i, transport: 1 + (i % 3), flags: i % 2, listener: 'udp://127.0.0.1:5514', peer_address: i % 5 ? '127.0.0.1' : '::1', peer_port: i,
      // A tampered log may hold a MAC of any length; the split must follow the stored one.
      raw, mac: i === 9 ? randomBytes(5) : randomBytes(32), fields: `{"v":1,"i":${i}}`,
    });
  }
  return out;
}

describe('Entries.rangeForVerify', () => {
  it('gives the rows range() gives, byte for byte', () => {
    const path = join(dir, 'a.sqlite');
    const store = LogStore.open(path, { create: true });
    const want = rows();
    appendRows(store, want);
    const plain = [...store.entries.range(0, 1000)];
    const fast = [...store.entries.rangeForVerify(0, 1000)];
    const sub = [...store.entries.rangeForVerify(100, 150)];
    store.close();
    expect(plain).toHaveLength(want.length);
    const norm = (e: EntryRow) => ({ ...e, raw: Buffer.from(e.raw).toString('hex'), mac: Buffer.from(e.mac).toString('hex') });
    expect(fast.map(norm)).toEqual(plain.map(norm));
    expect(fast.map(norm)).toEqual(want.map(norm));
    expect(sub.map((e) => e.seq)).toEqual(plain.slice(100, 150).map((e) => e.seq));
  });

  it('falls back to the plain read in a database that is not UTF-8', async () => {
    const path = join(dir, 'utf16.sqlite');
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(path);
    db.pragma("encoding = 'UTF-16le'");
    db.exec(SCHEMA_SQL);
    db.close();
    const store = LogStore.open(path, { create: true });
    const want = rows().slice(0, 20);
    appendRows(store, want);
    const fast = [...store.entries.rangeForVerify(0, 100)];
    store.close();
    expect(fast.map((e) => Buffer.from(e.raw).toString('hex'))).toEqual(want.map((e) => e.raw.toString('hex')));
    // The insert binds the field JSON as a string here: cast from UTF-8 bytes it would be misread as UTF-16.
    expect(fast.map((e) => e.fields)).toEqual(want.map((e) => e.fields));
  });
});
