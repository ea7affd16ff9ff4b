// Entries.append binds the field JSON as UTF-8 bytes and lets SQLite cast them to TEXT: what it
// stores must read back exactly as an insert that binds the JSON as a string stores the same row,
// for any JSON the sequencer writes (escapes, non-ASCII, astral characters), and a failed
// transaction must store none of its rows.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogStore, type EntryRow } from '../../src/store/log-store.js';
import { asInsert } from '../helpers/store-rows.js';
import { fieldsToJson, parseRecord } from '../../src/parse/index.js';

const dir = mkdtempSync(join(tmpdir(), 'immutalog-append-rows-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RAWS = [
  '<134>1 2026-11-26T12:00:00Z host tacker-server - - - 2026-11-26 12:00:00.000 42 INFO tacker.vnfm [req-1 u p - - -] caf\u00e9 \u{1f600}',
  '<11>Nov 26 12:00:00 host app: "quoted" \\ back\tslash \u0001 control',
  '{"message": "json \u00fc", "levelname": "ERROR", "name": "tacker", "process": 7}',
  '',
];

function rows(): EntryRow[] {
  return RAWS.map((text, i) => {
    const raw = Buffer.from(text, 'utf8');
    return {
      seq: i, block: 0, received_at_us: 1_700_000_000_000_000 + i, transport: 1 + (i % 3), flags: 0, listener: 'udp://127.0.0.1:5514', peer_address: '::1', peer_port: 1000 + i,
      raw, mac: Buffer.alloc(32, i), fields: fieldsToJson(parseRecord(raw)),
    };
  });
}

describe('Entries.append', () => {
  it('stores what a string-bound insert stores, field JSON as the same TEXT', async () => {
    const want = rows();
    const pathA = join(dir, 'a.sqlite');
    LogStore.open(pathA, { create: true }).close();
    const { default: Database } = await import('better-sqlite3');
    const raw = new Database(pathA);
    const ins = raw.prepare('INSERT INTO entries (seq, block, received_at_us, transport, flags, listener, peer_address, peer_port, raw, mac, fields) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    for (const r of want) ins.run(r.seq, r.block, r.received_at_us, r.transport, r.flags, r.listener, r.peer_address, r.peer_port, r.raw, r.mac, r.fields);
    raw.close();
    const a = LogStore.open(pathA, { create: false });
    const b = LogStore.open(join(dir, 'b.sqlite'), { create: true });
    // One reused row object, as the storage thread passes it.
    const view = asInsert(want[0]!);
    b.entries.append((insert) => {
      for (const r of want) insert(Object.assign(view, asInsert(r)));
    });
    const fromA = [...a.entries.range(0, 100)];
    const fromB = [...b.entries.range(0, 100)];
    a.close();
    b.close();
    expect(fromB).toHaveLength(want.length);
    expect(fromB.map((r) => typeof r.fields)).toEqual(want.map(() => 'string'));
    expect(fromB).toEqual(fromA);
    expect(fromB.map((r) => r.fields)).toEqual(want.map((r) => r.fields));
  });

  it('stores nothing of a transaction that fails part-way', () => {
    const want = rows();
    const s = LogStore.open(join(dir, 'c.sqlite'), { create: true });
    expect(() =>
      s.entries.append((insert) => {
        insert(asInsert(want[0]!));
        insert(asInsert(want[1]!));
        insert(asInsert(want[1]!)); // the same seq again: the primary key refuses it
      }),
    ).toThrow(/UNIQUE|PRIMARY/);
    expect([...s.entries.range(0, 100)]).toEqual([]);
    s.entries.append((insert) => insert(asInsert(want[0]!)));
    expect([...s.entries.range(0, 100)].map((r) => r.seq)).toEqual([0]);
    s.close();
  });
});
