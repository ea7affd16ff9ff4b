// Entries.rangeForVerify reads rows in chunks that SQL lays out (store/verify-read.ts), builds
// each leaf input itself and compares the stored field JSON as bytes. Whatever the rows hold,
// checkBlock must come to exactly the result it comes to on the rows the one-statement query
// that verify used before chunks gives (kept here verbatim as the reference): the same failures
// with the same evidence, or the same error. That includes tampered rows whose columns no longer
// have the schema's types (an attacker can drop STRICT through writable_schema). All of it holds
// on both layouts: the rows extension's aggregate and the SQL expression it replaces, which must
// also give the same chunk, byte for byte.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it as vitestIt } from 'vitest';
import { encodeStoredEntry } from '../../src/chain/encoding.js';
import { chainMac } from '../../src/chain/mac.js';
import { fieldsToJson, parseRecord } from '../../src/parse/index.js';
import { LogStore, type EntryRow, type PlainRow, type VerifyRow } from '../../src/store/log-store.js';
import { loadRowsExtension, ROWS_ENV, type RowsPath } from '../../src/store/rows-extension.js';
import { SCHEMA_SQL } from '../../src/store/schema.js';
import { CHUNK_SQL_OF, CHUNKED_ROW_MAX_BYTES } from '../../src/store/verify-read.js';
import { loadFieldsAddon } from '../../src/parse/native-fields.js';
import { needClients } from '../clients/available.js';
import { useEnv } from '../helpers/env.js';
import { checkBlock, type BlockTask } from '../../src/verify/block-check.js';
import { rng } from '../receive/helpers.js';
import { appendRows } from '../helpers/store-rows.js';

const { default: Database } = await import('better-sqlite3');

const dir = mkdtempSync(join(tmpdir(), 'immutalog-verify-read-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const AWKWARD: Buffer[] = [
  Buffer.alloc(0),
  Buffer.from([0x00]),
  Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x0a, 0x00]),
  Buffer.from('<134>1 - host app - - - caf\u00e9 \u{1f600}\n', 'utf8'),
  Buffer.from([0xed, 0xa0, 0x80]), // an encoded surrogate: not UTF-8
  Buffer.alloc(70_000, 0x00), // past the chunked read's row limit: read alone
  Buffer.from('<134>1 2026-11-26T12:00:00Z h\xffst app - - - 2026-11-26 12:00:00.000 42 INFO x.y [-] m', 'latin1'),
  Buffer.from('<30>Nov 26 12:00:00 host tag[1]: {"levelname": "INFO", "name": "a.b", "process": 7}'),
];

const KEY = randomBytes(32);
const START = randomBytes(32);
const T0 = 1_700_000_000_000_000;

/** Rows whose MACs chain from START under KEY and whose fields are what the parser derives. */
function chained(raws: Buffer[], names: (i: number) => [string, string] = (i) => ['tcp://127.0.0.1:5514', i % 5 ? '127.0.0.1' : '::1']): EntryRow[] {
  let prev: Buffer = START;
  return raws.map((raw, i) => {
    const [listener, peer] = names(i);
    const e: EntryRow = { seq: i, block: 0, received_at_us: T0 + i, transport: 1 + (i % 3), flags: i % 2 ? 4 : 0, listener, peer_address: peer, peer_port: i, raw, mac: Buffer.alloc(0), fields: fieldsToJson(parseRecord(raw)) };
    e.mac = chainMac(KEY, prev, encodeStoredEntry(e));
    prev = e.mac;
    return e;
  });
}

function task(firstSeq: number, endSeq: number, startHead: Buffer): BlockTask {
  return {
    block: 0, firstSeq, endSeq, startHead, key: KEY,
    expect: { count: endSeq - firstSeq, chainHead: Buffer.alloc(32, 1), entryRoot: Buffer.alloc(32, 2), checkpoint: 0 },
    bounds: { fromUs: T0, toUs: T0 + 1_000_000 }, maxFailures: 10_000,
  };
}

/** Verify's read before chunks, verbatim. */
function* reference(path: string, from: number, to: number): IterableIterator<PlainRow> {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db
      .prepare('SELECT seq, block, received_at_us, transport, flags, listener, peer_address, peer_port, CAST(raw || mac AS BLOB), length(mac), fields FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq')
      .raw()
      .iterate(from, to) as IterableIterator<[number, number, number, number, number, string, string, number, Buffer, number, string]>;
    for (const r of rows) {
      const both = r[8];
      const split = both.length - r[9];
      yield { prepared: false, seq: r[0], block: r[1], received_at_us: r[2], transport: r[3], flags: r[4], listener: r[5], peer_address: r[6], peer_port: r[7], raw: both.subarray(0, split), mac: both.subarray(split), fields: r[10] };
    }
  } finally {
    db.close();
  }
}

function outcome(t: BlockTask, rows: () => Iterable<VerifyRow>): unknown {
  try {
    return checkBlock(t, rows());
  } catch (e) {
    return { threw: (e as Error).message };
  }
}

/** The parser's C fields check when built; the reads below run with it and without it. */
const vouch = loadFieldsAddon().fields?.matchFields;

/**
 * checkBlock over [from, to) read both ways; also how many rows the chunked read prepared and
 * how many of those the C fields check vouched for. The chunked read gives the same outcome with
 * the fields check and without it: the check only spares work.
 */
function both(store: LogStore, path: string, t: BlockTask): { fast: unknown; ref: unknown; prepared: number; vouched: number } {
  let prepared = 0;
  let vouched = 0;
  try {
    for (const r of store.entries.rangeForVerify(t.firstSeq, t.endSeq, vouch)) {
      if (r.prepared) prepared++;
      if (r.prepared && r.fieldsVouched) vouched++;
    }
  } catch {
    // outcome() below records the error.
  }
  const fast = outcome(t, () => store.entries.rangeForVerify(t.firstSeq, t.endSeq, vouch));
  expect(outcome(t, () => store.entries.rangeForVerify(t.firstSeq, t.endSeq))).toEqual(fast);
  return { fast, ref: outcome(t, () => reference(path, t.firstSeq, t.endSeq)), prepared, vouched };
}

function newLog(rows: EntryRow[]): { store: LogStore; path: string } {
  const path = join(dir, `log-${files++}.sqlite`);
  const store = LogStore.open(path, { create: true });
  appendRows(store, rows);
  return { store, path };
}

/** Every chunk of [0, end) from each start, both ways: the extension's bytes must be the SQL's. */
function sameChunks(path: string, end: number): number {
  const db = new Database(path, { readonly: true });
  try {
    expect(loadRowsExtension(db)).toBeUndefined();
    const sql = db.prepare(CHUNK_SQL_OF.sql).raw();
    const ext = db.prepare(CHUNK_SQL_OF.native).raw();
    let compared = 0;
    for (let from = 0; from <= end; from++) {
      for (const to of [end, from + 1, from + 300]) {
        const [a, b] = [sql.get(from, to), ext.get(from, to)] as [Buffer | null, number, number | null][];
        expect({ from, to, chunk: b![0]?.toString('hex') ?? null, rows: b![1], last: b![2] }).toEqual({ from, to, chunk: a![0]?.toString('hex') ?? null, rows: a![1], last: a![2] });
        compared += a![1];
      }
    }
    return compared;
  } finally {
    db.close();
  }
}

const extension = needClients('rows-extension');
const PATHS: RowsPath[] = ['native', 'sql'];

describe.each(PATHS)('Entries.rangeForVerify, %s rows', (readPath) => {
  const it = readPath === 'native' ? extension.it : vitestIt;
  /** On the extension's run, also the chunks themselves against the SQL layout's. */
  const chunksAgree = (path: string, end: number): void => {
    if (readPath === 'native') expect(sameChunks(path, end)).toBeGreaterThan(0);
  };
  useEnv(ROWS_ENV, readPath);

  it('prepares every ordinary row and gives checkBlock what the one-statement read gives', () => {
    const r = rng(7);
    const raws = Array.from({ length: 900 }, (_, i) => AWKWARD[i] ?? randomBytes(Math.floor(r() * 600)));
    const rows = chained(raws);
    const { store, path } = newLog(rows);
    const whole = both(store, path, task(0, 900, START));
    // Every row but the one past the row limit is read in chunks (of 256: 900 spans four).
    expect(whole.prepared).toBe(899);
    expect(whole.fast).toEqual(whole.ref);
    expect((whole.ref as { failures: { code: string }[] }).failures.map((f) => f.code)).toEqual(['BLOCK_HEAD_MISMATCH', 'BLOCK_ROOT_MISMATCH']);
    // The reader reuses its row object: read each row before the next.
    const leaves: string[] = [];
    for (const e of store.entries.rangeForVerify(0, 900)) if (e.prepared) leaves.push(Buffer.from(e.leafInput).toString('hex'));
    expect(leaves).toEqual(rows.filter((_, i) => i !== 5).map((e) => '00' + encodeStoredEntry(e).toString('hex')));
    const sub = both(store, path, task(100, 350, rows[99]!.mac));
    expect(sub.fast).toEqual(sub.ref);
    expect((sub.ref as { checked: number }).checked).toBe(250);
    store.close();
    chunksAgree(path, 900);
  });

  it('lists failures on both sides of chunk boundaries exactly as the one-statement read', () => {
    // Chunks of 256 rows, the hasher's batches of 1,024: edits on either side of each boundary.
    const raws = Array.from({ length: 1_300 }, (_, i) => Buffer.from(`<134>1 2026-11-26T12:00:00Z host app - - - 2026-11-26 12:00:00.000 42 INFO x.y [-] m ${i}`));
    const rows = chained(raws);
    const mac = (i: number): void => void (rows[i]!.mac = randomBytes(32));
    const raw = (i: number): void => void (rows[i]!.raw = Buffer.from(rows[i]!.raw.toString().replace(' INFO ', ' WARNING ')));
    const fields = (i: number): void => void (rows[i]!.fields = rows[i]!.fields.replace('"INFO"', '"DEBUG"'));
    const RAW = [0, 255, 256, 511, 767, 768, 1023, 1024, 1299];
    const FIELDS = [1, 254, 257, 512, 1022, 1025];
    const MAC = [253, 258, 510, 513, 1021, 1026];
    RAW.forEach(raw);
    FIELDS.forEach(fields);
    MAC.forEach(mac);
    const { store, path } = newLog(rows);
    const r = both(store, path, task(0, rows.length, START));
    store.close();
    expect(r.prepared).toBe(rows.length);
    expect(r.fast).toEqual(r.ref);
    const codes = (r.ref as { failures: { code: string; seq: number }[] }).failures.map((f) => `${f.code} ${f.seq}`);
    // A stored MAC replaced fails there and at the next entry, which chains on it.
    const macFailures = [...new Set([...RAW, ...MAC, ...MAC.map((i) => i + 1)])].sort((a, b) => a - b);
    expect(codes.filter((c) => c.startsWith('ENTRY_MAC_MISMATCH'))).toEqual(macFailures.map((i) => `ENTRY_MAC_MISMATCH ${i}`));
    expect(codes.filter((c) => c.startsWith('FIELDS_MISMATCH'))).toEqual([...RAW, ...FIELDS].sort((a, b) => a - b).map((i) => `FIELDS_MISMATCH ${i}`));
  });

  it('chunks a row of exactly the row limit and reads one byte longer alone', () => {
    const names = (): [string, string] => ['tcp://127.0.0.1:5514', '127.0.0.1'];
    const sized = (extra: number): Buffer => {
      // Fields of a line of plain bytes do not depend on its length: measured on a short one.
      const fieldsBytes = Buffer.byteLength(fieldsToJson(parseRecord(Buffer.from('aaaa'))));
      return Buffer.alloc(CHUNKED_ROW_MAX_BYTES + extra - fieldsBytes - 32 - 'tcp://127.0.0.1:5514'.length - '127.0.0.1'.length, 'a');
    };
    const rows = chained([Buffer.from('a'), sized(0), sized(1), sized(-1), Buffer.from('b')], names);
    const { store, path } = newLog(rows);
    const r = both(store, path, task(0, rows.length, START));
    store.close();
    expect(r.fast).toEqual(r.ref);
    expect(r.prepared).toBe(4);
    chunksAgree(path, rows.length);
  });

  it('matches the one-statement read for random rows, names and field JSON (property)', () => {
    const name = fc.oneof(fc.constantFrom('udp://[::1]:514', 'relp://0.0.0.0:2514', '', 'caf\u00e9', '\u{1f600}'), fc.string({ maxLength: 40 }));
    fc.assert(
      fc.property(
        fc.array(fc.record({ raw: fc.uint8Array({ maxLength: 300 }), line: fc.boolean(), names: fc.tuple(name, name), editFields: fc.option(fc.string({ maxLength: 30 }), { freq: 5 }) }), { minLength: 1, maxLength: 40 }),
        (spec) => {
          const raws = spec.map((s) => (s.line ? Buffer.from(`<13>1 2026-11-26T12:00:00Z host app 1 - - ${Buffer.from(s.raw).toString('latin1')}`, 'latin1') : Buffer.from(s.raw)));
          const rows = chained(raws, (i) => spec[i]!.names);
          spec.forEach((s, i) => {
            if (s.editFields !== null) rows[i]!.fields = s.editFields;
          });
          const { store, path } = newLog(rows);
          const r = both(store, path, task(0, rows.length, START));
          store.close();
          expect(r.fast).toEqual(r.ref);
          chunksAgree(path, rows.length);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('reads a tampered row whose columns lost the schema\'s types or range exactly as before', () => {
    const raws = Array.from({ length: 64 }, (_, i) => Buffer.from(`<134>1 2026-11-26T12:00:00Z host app ${i} - - message ${i}`));
    raws[40] = Buffer.from('<134>1 2026-11-26T12:00:00Z h\xffst app - - - x', 'latin1');
    const rows = chained(raws);
    // What an attacker with the file can do: copy the log into a table without STRICT and NOT
    // NULL, then store anything.
    const path = join(dir, `loose-${files++}.sqlite`);
    const db = new Database(path);
    db.exec(SCHEMA_SQL.replace(/(CREATE TABLE IF NOT EXISTS entries \([\s\S]*?\)) STRICT;/, (_, t: string) => `${t.replace(/ NOT NULL/g, '')};`));
    db.close();
    const store = LogStore.open(path, { create: true });
    appendRows(store, rows);
    store.close();
    const EDITS: [string, string][] = [
      ['transport', "' 2'"], ['transport', '2.0'], ['transport', '1.5'], ['transport', '0'], ['transport', '4'], ['transport', 'x\'02\''], ['transport', 'NULL'],
      ['block', "'0'"], ['block', '0.0'], ['block', '-1'], ['block', '1152921504606846976'], ['block', '9007199254740993'], ['block', 'NULL'],
      ['received_at_us', `'${T0 + 20}'`], ['received_at_us', `${T0 + 21}.5`], ['received_at_us', '-5'], ['received_at_us', '1152921504606846976'], ['received_at_us', 'NULL'],
      ['flags', '8'], ['flags', '-1'], ['flags', '4294967296'], ['flags', '4.0'], ['flags', "'4'"],
      ['peer_port', '65536'], ['peer_port', '-1'], ['peer_port', "'7'"],
      ['listener', "CAST(x'ff74' AS TEXT)"], ['listener', '5'], ['listener', "x'7463703a2f2f'"], ['listener', 'NULL'], ['listener', "printf('%.70000c', 'a')"],
      ['peer_address', "CAST(x'c328' AS TEXT)"], ['peer_address', '3.5'],
      ['raw', "'<134>1 - h a - - - text raw'"], ['raw', '7'], ['raw', 'NULL'], ['raw', 'zeroblob(70000)'],
      ['mac', "'not a mac'"], ['mac', "x''"], ['mac', 'randomblob(100)'], ['mac', 'NULL'], ['mac', "CAST(mac || x'00' AS BLOB)"],
      ['fields', "CAST(fields AS BLOB)"], ['fields', '1'], ['fields', 'NULL'], ['fields', `'{"v":2,"fmt":"bare"}'`], ['fields', `'{"v":1,"fmt":"bare"}'`],
      // Row 40's raw holds an invalid byte: its fields hold U+FFFD, here as the invalid byte itself.
      ['fields', "CAST(replace(CAST(fields AS BLOB), x'efbfbd', x'ff') AS TEXT)"],
    ];
    const w = new Database(path);
    const seqs = Array.from({ length: 63 }, (_, i) => i + 1).filter((s) => s !== 40);
    EDITS.forEach(([col, value], i) => {
      w.prepare(`UPDATE entries SET ${col} = ${value} WHERE seq = ?`).run(i === EDITS.length - 1 ? 40 : seqs[i]);
    });
    w.close();
    const again = LogStore.open(path, { create: false, readonly: true });
    const whole = both(again, path, task(0, 64, START));
    expect(whole.fast).toEqual(whole.ref);
    expect(whole.fast).toHaveProperty('threw'); // a NULL column breaks the old read too
    const codes = new Set<string>();
    for (let s = 0; s < 64; s++) {
      const one = both(again, path, task(s, s + 1, s === 0 ? START : rows[s - 1]!.mac));
      expect({ seq: s, ...(one.fast as object) }).toEqual({ seq: s, ...(one.ref as object) });
      for (const f of (one.ref as { failures?: { code: string }[] }).failures ?? []) codes.add(f.code);
    }
    // A byte appended to a valid MAC fails its entry, with the stored bytes as evidence.
    const appended = seqs[EDITS.findIndex(([c, v]) => c === 'mac' && v.includes("x'00'"))]!;
    const macFailures = (s: number) => ((both(again, path, task(s, s + 1, rows[s - 1]!.mac)).fast as { failures: { code: string; actual: string }[] }).failures)
      .filter((f) => f.code === 'ENTRY_MAC_MISMATCH').map((f) => f.actual);
    expect(macFailures(appended)).toEqual([rows[appended]!.mac.toString('hex') + '00']);
    // The edits reach every per-entry check, not only the fallbacks.
    expect([...codes].sort()).toEqual(expect.arrayContaining(['ENTRY_BAD_ENCODING', 'ENTRY_BLOCK_MISMATCH', 'ENTRY_MAC_MISMATCH', 'ENTRY_TIME_OUT_OF_BLOCK', 'FIELDS_MISMATCH']));
    again.close();
    chunksAgree(path, 64);
  });

  it('falls back to the plain read in a database that is not UTF-8', () => {
    const path = join(dir, `utf16-${files++}.sqlite`);
    const db = new Database(path);
    db.pragma("encoding = 'UTF-16le'");
    db.exec(SCHEMA_SQL);
    db.close();
    const store = LogStore.open(path, { create: true });
    const want = chained(AWKWARD);
    appendRows(store, want);
    const fast = [...store.entries.rangeForVerify(0, 100)];
    store.close();
    expect(fast.every((e) => !e.prepared)).toBe(true);
    expect(fast.map((e) => Buffer.from(e.raw).toString('hex'))).toEqual(want.map((e) => e.raw.toString('hex')));
    // The insert binds the field JSON as a string here: cast from UTF-8 bytes it would be misread as UTF-16.
    expect(fast.map((e) => (e.prepared ? '' : e.fields))).toEqual(want.map((e) => e.fields));
  });
});
