import { isUtf8 } from 'node:buffer';
import {
  LEAF_GAP_AFTER_LISTENER, LEAF_GAP_AFTER_PEER, LEAF_HEAD_BYTES, leafInputInPlace, type LeafLayout, type StoredEntryColumns,
} from '../chain/encoding.js';
import type { Db } from './db.js';
import type { RowsPath } from './rows-extension.js';

/**
 * Verify's read of the entries table, which it reads whole: rows come from SQLite in chunks, one
 * BLOB per chunk, because better-sqlite3 makes a JS value per column of every row (a Buffer per
 * BLOB costs about a microsecond) and that was a third of verify's time. SQL lays each row out
 * as a tag byte and, for a row whose columns have the types the schema declares and that is not
 * large, a fixed header of its integers (printf of their two's complement, then unhex) followed
 * by listener, peer address, raw, mac and fields as stored, with gaps where the entry encoding
 * puts its lengths, so that the leaf input is written around the stored bytes in the chunk itself
 * (chain/encoding.ts, leafInputInPlace). Any other row is a tag and its sequence number, and is
 * read again alone with the query verify always used, so a tampered row reaches the checks
 * exactly as before (the same values, the same errors, the same evidence).
 */

/** Rows per chunk: enough to spread the statement's cost, few enough that a chunk stays small. */
const ROWS_PER_CHUNK = 256;
/**
 * A row whose bytes as laid out (header and gaps aside) exceed this is read alone, so that a
 * chunk holds at most about ROWS_PER_CHUNK times this (16 MiB), whatever a message or a tampered
 * column weighs.
 */
export const CHUNKED_ROW_MAX_BYTES = 65_536;

const TAG_CHUNKED = 0x00;
const TAG_ALONE = 0x01;

/** The types STRICT declares for each column; a row with any other is read alone. */
const TYPES = ['block', 'received_at_us', 'transport', 'flags', 'peer_port'].map((c) => `typeof(${c})`).join('||')
  + "||typeof(listener)||typeof(peer_address)||typeof(raw)||typeof(mac)||typeof(fields) = 'integerintegerintegerintegerintegertexttextblobblobtext'";
/** Header: seq, block, received_at_us, transport, flags, peer_port (u64 each), then five u32 lengths. */
const HEADER = "printf('00%016X%016X%016X%016X%016X%016X%08X%08X%08X%08X%08X', seq, block, received_at_us, transport, flags, peer_port, "
  + 'octet_length(listener), octet_length(peer_address), octet_length(raw), octet_length(mac), octet_length(fields))';
/** Longer than LEAF_HEAD_BYTES: the leaf input's head is written over the header's end. */
const HEADER_BYTES = 1 + 6 * 8 + 5 * 4;
if (HEADER_BYTES < LEAF_HEAD_BYTES) throw new Error('verify read: the row header must be as long as the leaf input head written over it');
const gap = (n: number): string => `x'${'00'.repeat(n)}'`;
const ALONE = "unhex(printf('01%016X', seq))";
const ROW = `CASE WHEN ${TYPES} THEN unhex(${HEADER}) || listener || ${gap(LEAF_GAP_AFTER_LISTENER)} || peer_address || ${gap(LEAF_GAP_AFTER_PEER)} || raw || mac || fields ELSE ${ALONE} END`;
// The size is judged on the row as laid out (one length() of a BLOB instead of one per column).
// The aggregate sees the subquery's rows in its ORDER BY order (a co-routine over the rowid
// range); the reader checks that every chunk's sequence numbers rise all the same.
const CHUNK_SQL = `SELECT CAST(group_concat(CASE WHEN length(r) <= ${HEADER_BYTES + LEAF_GAP_AFTER_LISTENER + LEAF_GAP_AFTER_PEER + CHUNKED_ROW_MAX_BYTES} THEN r ELSE ${ALONE} END, '') AS BLOB), count(*), max(seq) `
  + `FROM (SELECT seq, CAST(${ROW} AS BLOB) AS r FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq LIMIT ${ROWS_PER_CHUNK})`;
/**
 * The same chunk from the rows extension's aggregate (rows-ext/rows_ext.c), which writes exactly
 * the bytes CHUNK_SQL's expression gives (a test holds the two to it), at a third of the cost.
 */
const EXTENSION_CHUNK_SQL = `SELECT immutalog_rows(seq, block, received_at_us, transport, flags, peer_port, listener, peer_address, raw, mac, fields, ${CHUNKED_ROW_MAX_BYTES}), count(*), max(seq) `
  + `FROM (SELECT seq, block, received_at_us, transport, flags, peer_port, listener, peer_address, raw, mac, fields FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq LIMIT ${ROWS_PER_CHUNK})`;
/** The statement that reads a chunk, (from, to) → (chunk, rows, last seq), by layout path. */
export const CHUNK_SQL_OF: Readonly<Record<RowsPath, string>> = { sql: CHUNK_SQL, native: EXTENSION_CHUNK_SQL };
/** The one-row query verify used before chunks, for the rows read alone. */
const ALONE_SQL = 'SELECT seq, block, received_at_us, transport, flags, listener, peer_address, peer_port, CAST(raw || mac AS BLOB), length(mac), fields FROM entries WHERE seq = ?';

/** A row as range() gives it: an EntryRow. */
export interface PlainRow extends StoredEntryColumns {
  readonly prepared?: false;
  block: number;
  mac: Buffer;
  fields: string;
}

/**
 * A row the chunked read prepared: its leaf input built, its field JSON left as bytes. The
 * reader reuses one object: its fields are valid until the next row; the views it gives (raw,
 * mac, leafInput) until the next chunk.
 */
export interface PreparedRow {
  readonly prepared: true;
  readonly seq: number;
  readonly block: number;
  readonly received_at_us: number;
  readonly raw: Buffer;
  readonly mac: Buffer;
  /** `0x00 || enc(row)`: what StoredEntryEncoder.leafInput gives for the row's columns. */
  readonly leafInput: Buffer;
  /**
   * The same bytes where they lie, for a caller that hashes many rows of a chunk without copying
   * them: the leaf input is chunk[leafAt, macAt), the stored MAC chunk[macAt, macEnd). The chunk
   * is the row's own until the reader moves to the next one; another chunk means other rows.
   */
  readonly chunk: Buffer;
  readonly leafAt: number;
  readonly macAt: number;
  readonly macEnd: number;
  /**
   * Set when the chunk's fields check (FieldsVouch) found the stored field JSON to be exactly
   * the JSON re-derived from raw; unset means not checked there, not different.
   */
  readonly fieldsVouched: boolean;
  /** Whether the stored field JSON is byte for byte json[0, n). */
  fieldsAre(json: Buffer, n: number): boolean;
  /** The stored field JSON as range() gives it (read again: for rows whose bytes differ). */
  fieldsText(): string;
}

export type VerifyRow = PreparedRow | PlainRow;

/**
 * A check of many rows' field JSON at once, given by the caller (verify, with the parser's C
 * fields check): for row i, spans[4i..4i+3] are [raw start, raw end, field JSON start, field
 * JSON end) in the chunk; it sets vouched[i] to 1 for each row whose stored JSON it confirms.
 */
export type FieldsVouch = (chunk: Uint8Array, spans: Uint32Array, count: number, vouched: Uint8Array) => number;

class Prepared implements PreparedRow {
  readonly prepared = true;
  seq = 0;
  block = 0;
  received_at_us = 0;
  chunk: Buffer = Buffer.alloc(0);
  rawAt = 0;
  leafAt = 0;
  macAt = 0;
  macEnd = 0;
  fieldsVouched = false;
  fieldsAt = 0;
  fieldsEnd = 0;
  // Views made only when asked for: most rows are hashed in place and vouched for.
  get raw(): Buffer {
    return this.chunk.subarray(this.rawAt, this.macAt);
  }
  get mac(): Buffer {
    return this.chunk.subarray(this.macAt, this.macEnd);
  }
  get leafInput(): Buffer {
    return this.chunk.subarray(this.leafAt, this.macAt);
  }
  constructor(private readonly text: (seq: number) => string) {}
  fieldsAre(json: Buffer, n: number): boolean {
    return n === this.fieldsEnd - this.fieldsAt && json.compare(this.chunk, this.fieldsAt, this.fieldsEnd, 0, n) === 0;
  }
  fieldsText(): string {
    return this.text(this.seq);
  }
}

/** A u64 from the header, or -1 when it is negative or past 2^53 - 1 (the row is then read alone). */
function u64(b: DataView, o: number): number {
  const hi = b.getUint32(o);
  return hi > 0x1f_ffff ? -1 : hi * 0x1_0000_0000 + b.getUint32(o + 4);
}

function sameBytes(a: Buffer, b: Buffer, at: number, n: number): boolean {
  if (a.length !== n) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[at + i]) return false;
  return true;
}

function inOrder(seq: number, prev: number): number {
  if (!(seq > prev)) throw new Error(`verify read: expected rows in sequence order, got ${seq} after ${prev}`);
  return seq;
}

export class VerifyReader {
  private readonly chunkStmt;
  private readonly aloneStmt;
  private readonly fieldsStmt;
  private readonly row: Prepared;
  private readonly at: LeafLayout = { listenerAt: 0, listenerLength: 0, peerLength: 0, rawLength: 0 };
  /** One chunk's rows as laid out: offsets into the chunk, leafAt -1 for a row read alone. */
  private readonly laid = {
    seq: new Float64Array(ROWS_PER_CHUNK),
    block: new Float64Array(ROWS_PER_CHUNK),
    receivedAtUs: new Float64Array(ROWS_PER_CHUNK),
    leafAt: new Int32Array(ROWS_PER_CHUNK),
    macEnd: new Uint32Array(ROWS_PER_CHUNK),
    /** raw start, mac start (raw end), fields start, fields end: FieldsVouch's spans. */
    spans: new Uint32Array(4 * ROWS_PER_CHUNK),
    vouched: new Uint8Array(ROWS_PER_CHUNK),
  };
  /** The last listener and peer address found valid UTF-8: the same bytes need no second look. */
  private listener = Buffer.alloc(0);
  private peer = Buffer.alloc(0);

  /** `path` 'native' needs the rows extension loaded into `db` (rows-extension.ts). */
  constructor(private readonly db: Db, readonly path: RowsPath) {
    this.chunkStmt = db.prepare(CHUNK_SQL_OF[path]).raw();
    this.aloneStmt = db.prepare(ALONE_SQL).raw();
    this.fieldsStmt = db.prepare('SELECT fields FROM entries WHERE seq = ?').pluck();
    this.row = new Prepared((seq) => this.fieldsStmt.get(seq) as string);
  }

  /**
   * Entries in [from, to), in order, in one read transaction (one snapshot, as one statement
   * had). With `vouch`, each chunk's prepared rows go through it before the first is yielded.
   */
  *range(from: number, to: number, vouch?: FieldsVouch): IterableIterator<VerifyRow> {
    const own = !this.db.inTransaction;
    if (own) this.db.exec('BEGIN DEFERRED');
    try {
      const row = this.row;
      const laid = this.laid;
      let next = from;
      for (;;) {
        const [chunk, count, last] = this.chunkStmt.get(next, to) as [Buffer | null, number, number | null];
        if (count === 0 || chunk === null || last === null) return;
        if (count > ROWS_PER_CHUNK) throw new Error(`verify read: expected at most ${ROWS_PER_CHUNK} rows in a chunk, got ${count}`);
        this.layOut(chunk, count, next - 1);
        if (vouch) vouch(chunk, laid.spans, count, laid.vouched);
        else laid.vouched.fill(0);
        row.chunk = chunk;
        for (let i = 0; i < count; i++) {
          const leafAt = laid.leafAt[i]!;
          if (leafAt < 0) {
            yield this.alone(laid.seq[i]!);
            continue;
          }
          row.seq = laid.seq[i]!;
          row.block = laid.block[i]!;
          row.received_at_us = laid.receivedAtUs[i]!;
          row.leafAt = leafAt;
          row.rawAt = laid.spans[4 * i]!;
          row.macAt = laid.spans[4 * i + 1]!;
          row.macEnd = laid.macEnd[i]!;
          row.fieldsAt = laid.spans[4 * i + 2]!;
          row.fieldsEnd = laid.spans[4 * i + 3]!;
          row.fieldsVouched = laid.vouched[i] === 1;
          yield row;
        }
        if (count < ROWS_PER_CHUNK) return;
        next = last + 1;
      }
    } finally {
      if (own && this.db.inTransaction) this.db.exec('COMMIT');
    }
  }

  /**
   * Reads every row header of a chunk into `laid` and writes each leaf input in place; a row to
   * be read alone gets leafAt -1 and empty spans. Checks the layout before any row is yielded.
   */
  private layOut(chunk: Buffer, count: number, prevSeq: number): void {
    const at = this.at;
    const laid = this.laid;
    // DataView reads: V8 compiles them inline, where each Buffer#readUInt32BE is a call.
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let o = 0;
    for (let i = 0; i < count; i++) {
      const tag = chunk[o];
      if (tag === TAG_ALONE) {
        laid.spans.fill(0, 4 * i, 4 * i + 4);
        const seq = u64(view, o + 1);
        o += 9;
        prevSeq = inOrder(seq, prevSeq);
        laid.seq[i] = seq;
        laid.leafAt[i] = -1;
        continue;
      }
      if (tag !== TAG_CHUNKED || o + HEADER_BYTES > chunk.length) throw new Error(`verify read: expected a row at byte ${o} of a ${chunk.length}-byte chunk, got ${tag}`);
      // Every header field is read before the leaf input's head is written over the header.
      const seq = u64(view, o + 1);
      const block = u64(view, o + 9);
      const receivedAtUs = u64(view, o + 17);
      const transport = u64(view, o + 25);
      const flags = u64(view, o + 33);
      const peerPort = u64(view, o + 41);
      at.listenerAt = o + HEADER_BYTES;
      at.listenerLength = view.getUint32(o + 49);
      at.peerLength = view.getUint32(o + 53);
      at.rawLength = view.getUint32(o + 57);
      const peerAt = at.listenerAt + at.listenerLength + LEAF_GAP_AFTER_LISTENER;
      const rawAt = peerAt + at.peerLength + LEAF_GAP_AFTER_PEER;
      const macAt = rawAt + at.rawLength;
      const fieldsAt = macAt + view.getUint32(o + 61);
      const end = fieldsAt + view.getUint32(o + 65);
      if (end > chunk.length) throw new Error(`verify read: a row runs past the end of its ${chunk.length}-byte chunk`);
      prevSeq = inOrder(seq, prevSeq);
      laid.seq[i] = seq;
      laid.leafAt[i] = block < 0 || !this.validNames(chunk, at.listenerAt, at.listenerLength, peerAt, at.peerLength)
        ? -1
        : leafInputInPlace(chunk, at, seq, receivedAtUs, transport, flags, peerPort);
      o = end;
      if (laid.leafAt[i]! < 0) {
        laid.spans.fill(0, 4 * i, 4 * i + 4);
        continue;
      }
      laid.block[i] = block;
      laid.receivedAtUs[i] = receivedAtUs;
      laid.spans[4 * i] = rawAt;
      laid.spans[4 * i + 1] = macAt;
      laid.spans[4 * i + 2] = fieldsAt;
      laid.spans[4 * i + 3] = end;
      laid.macEnd[i] = fieldsAt;
    }
    if (o !== chunk.length) throw new Error(`verify read: ${chunk.length - o} bytes left over after ${count} rows`);
  }

  /**
   * Whether listener and peer address are valid UTF-8, as they must be for their bytes to be the
   * ones the slow way encodes (it re-encodes better-sqlite3's decoding, which replaces invalid
   * sequences). They repeat row after row, so they are compared with the last valid pair first.
   */
  private validNames(chunk: Buffer, listenerAt: number, ll: number, peerAt: number, pl: number): boolean {
    if (sameBytes(this.listener, chunk, listenerAt, ll) && sameBytes(this.peer, chunk, peerAt, pl)) return true;
    const listener = chunk.subarray(listenerAt, listenerAt + ll);
    const peer = chunk.subarray(peerAt, peerAt + pl);
    if (!isUtf8(listener) || !isUtf8(peer)) return false;
    this.listener = Buffer.from(listener);
    this.peer = Buffer.from(peer);
    return true;
  }

  /** One row read alone, as verify read every row before chunks. */
  private alone(seq: number): PlainRow {
    const r = this.aloneStmt.get(seq) as [number, number, number, number, number, string, string, number, Buffer, number, string];
    const both = r[8];
    const split = both.length - r[9];
    return {
      prepared: false,
      seq: r[0], block: r[1], received_at_us: r[2], transport: r[3], flags: r[4], listener: r[5], peer_address: r[6], peer_port: r[7],
      raw: both.subarray(0, split), mac: both.subarray(split), fields: r[10],
    };
  }
}
