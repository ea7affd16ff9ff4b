import { encodedLength, encodeEntryInto, prepareStrings, type EntryFields, type PreparedStrings, type StoredEntryColumns } from './encoding.js';
import { ENTRY_AT, ENTRY_ENCODING_VERSION, PEER_LENGTH_BYTES, PORT_BYTES, RAW_LENGTH_BYTES } from './entry-format.js';
import { MAC_BYTES } from './mac.js';
import { batchCrypto } from '../crypto/select.js';

/**
 * A sealed batch, as handed from the sequencer to the storage thread in one transferable
 * buffer (in-process only, never stored):
 *   u32 block | u32 count | u32 fieldsAt | count x ( u32 len | 0x00 | entry encoding | 32-byte MAC | u32 fields length )
 *   | the entries' fields JSON end to end (from fieldsAt)
 * The 0x00 before each encoding makes `0x00 || enc`, the entry's RFC 6962 leaf input, one
 * contiguous slice, so the storage thread hashes it in one call without a copy; the fields JSON
 * arrives already end to end from the sequencer, so it goes in with one copy per batch.
 */
export interface SealedBatch {
  buffer: Buffer;
  count: number;
  firstSeq: number;
  block: number;
}

export type SealInput = Omit<EntryFields, 'seq'>;

const HEADER_BYTES = 12;

export interface ChainPosition {
  nextSeq: number;
  head: Buffer;
  block: number;
  blockKey: Buffer;
}

/**
 * Sequences and MACs frames into one batch buffer. Entries written here are final: the storage
 * thread retries a failed commit of the same bytes until it succeeds, so the sequencer's head
 * can advance at once. (A crash loses only what was never committed, and the next start
 * continues from the last committed entry, so no sequence number is ever skipped.)
 */
/** Parsed-field JSON of each item as UTF-8, end to end: item i's is bytes[ends[i-1] ?? 0, ends[i]). */
export interface FieldsJsonBytes {
  bytes: Buffer;
  ends: readonly number[];
}

export function sealBatch(
  at: ChainPosition,
  items: readonly SealInput[],
  /** Parsed-field JSON of each item, for the index; not covered by the MAC. */
  fields: FieldsJsonBytes,
  /** Where the batch is written: a buffer of `size` bytes at offset 0 of an ArrayBuffer of its own. */
  allocate: (size: number) => Buffer = (size) => Buffer.allocUnsafeSlow(size),
): { batch: SealedBatch; next: ChainPosition } {
  const strings = new Map<string, PreparedStrings>();
  const prepared: PreparedStrings[] = new Array(items.length);
  const fieldBytes: number[] = new Array(items.length);
  let size = HEADER_BYTES;
  // Runs of frames from one connection share their strings: look them up once per run.
  let lastListener: string | undefined;
  let lastPeer: string | undefined;
  let s: PreparedStrings | undefined;
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    if (s === undefined || it.listener !== lastListener || it.peerAddress !== lastPeer) {
      const key = `${it.listener}\0${it.peerAddress}`;
      s = strings.get(key);
      if (!s) strings.set(key, (s = prepareStrings(it.listener, it.peerAddress)));
      lastListener = it.listener;
      lastPeer = it.peerAddress;
    }
    prepared[i] = s;
    fieldBytes[i] = fields.ends[i]! - (i === 0 ? 0 : fields.ends[i - 1]!);
    size += 4 + 1 + encodedLength(it.raw.length, s) + MAC_BYTES + 4;
  }
  const fieldsTotal = items.length === 0 ? 0 : fields.ends[items.length - 1]!;
  const fieldsAt = size;
  size += fieldsTotal;
  // Its own ArrayBuffer (not a slice of Node's shared pool), so it can be transferred without a copy.
  const buf = allocate(size);
  if (fields.ends.length !== items.length) throw new RangeError(`batch: ${items.length} items but ${fields.ends.length} field JSONs`);
  if (buf.length !== size || buf.byteOffset !== 0) throw new RangeError(`batch buffer: expected ${size} bytes at offset 0, got ${buf.length} at ${buf.byteOffset}`);
  buf.writeUInt32BE(at.block, 0);
  buf.writeUInt32BE(items.length, 4);
  buf.writeUInt32BE(fieldsAt, 8);
  let o = HEADER_BYTES;
  let seq = at.nextSeq;
  // Every entry is encoded first, then the whole chain is MACed in one call (see crypto/).
  const spans = new Uint32Array(2 * items.length);
  const entry: EntryFields = { seq: 0, receivedAtUs: 0, transport: 'udp', flags: 0, listener: '', peerAddress: '', peerPort: 0, raw: buf };
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    buf[o + 4] = 0x00;
    const start = o + 5;
    // One reused object: a fresh one per entry shows up as GC time at ingest rates.
    entry.seq = seq;
    entry.receivedAtUs = it.receivedAtUs;
    entry.transport = it.transport;
    entry.flags = it.flags;
    entry.peerPort = it.peerPort;
    entry.raw = it.raw;
    const end = encodeEntryInto(buf, start, entry, prepared[i]!);
    buf.writeUInt32BE(end - start, o);
    spans[2 * i] = start;
    spans[2 * i + 1] = end;
    o = buf.writeUInt32BE(fieldBytes[i]!, end + MAC_BYTES);
    seq++;
  }
  if (o !== fieldsAt) throw new Error(`batch: entries end at ${o}, expected ${fieldsAt}`);
  batchCrypto.sealMacs(at.blockKey, at.head, buf, spans);
  const head = items.length === 0 ? at.head : Buffer.from(buf.subarray(spans[spans.length - 1]!, spans[spans.length - 1]! + MAC_BYTES));
  fields.bytes.copy(buf, fieldsAt, 0, fieldsTotal);
  return { batch: { buffer: buf, count: items.length, firstSeq: at.nextSeq, block: at.block }, next: { ...at, nextSeq: seq, head } };
}

/**
 * Where each entry's leaf input `0x00 || enc` lies in a sealed batch (pairs of start and end), and
 * the last entry's sequence number (-1 for none): what the storage thread hashes once the rows are
 * committed, found from the length words alone.
 */
export function sealedLeafSpans(buf: Buffer): { spans: Uint32Array; lastSeq: number } {
  const count = buf.readUInt32BE(4);
  const fieldsAt = buf.readUInt32BE(8);
  const spans = new Uint32Array(2 * count);
  let o = HEADER_BYTES;
  let lastSeq = -1;
  for (let i = 0; i < count; i++) {
    const e = o + 5;
    const end = e + buf.readUInt32BE(o);
    if (buf[o + 4] !== 0x00 || end + MAC_BYTES + 4 > fieldsAt || end - e < ENTRY_AT.listener) throw new Error(`batch: entry ${i} at byte ${o} is not a sealed entry`);
    spans[2 * i] = o + 4;
    spans[2 * i + 1] = end;
    if (i === count - 1) lastSeq = buf.readUInt32BE(e + ENTRY_AT.seq) * 0x1_0000_0000 + buf.readUInt32BE(e + ENTRY_AT.seq + 4);
    o = end + MAC_BYTES + 4;
  }
  if (o !== fieldsAt) throw new Error(`batch: expected entries to end at ${fieldsAt}, read ${o}`);
  return { spans, lastSeq };
}

/** buf[a, a+n) equals buf[b, b+n); a loop, as the strings are short and Buffer#compare is a native call. */
function sameBytes(buf: Buffer, a: number, b: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (buf[a + i] !== buf[b + i]) return false;
  return true;
}

/**
 * One entry of a sealed batch, as visitSealedRows passes it: the columns the store files it under,
 * the field JSON as the UTF-8 bytes the sequencer wrote, and the entry's RFC 6962 leaf input
 * `0x00 || enc`. The byte fields are plain Uint8Array views into the batch: SQLite and
 * node:crypto take them as they take Buffers, and one costs half a Buffer view to make.
 */
export interface SealedRowView extends Omit<StoredEntryColumns, 'raw'> {
  block: number;
  raw: Uint8Array;
  mac: Uint8Array;
  fieldsUtf8: Uint8Array;
  leafInput: Uint8Array;
}

/**
 * Reads a sealed batch entry by entry, in order, passing each to `visit`. This runs once per
 * stored message on the storage thread, so it reads the encoding at its fixed offsets instead of
 * through decodeEntry, decodes a listener or peer address only when it differs from the previous
 * entry's (one connection's entries share them), and passes the same object every time, refilled
 * (a row object per message, kept until its commit, was a third of the storage thread's garbage).
 * The batch comes from our own sealBatch, so it checks the layout, not every field's range.
 */
export function visitSealedRows(buf: Buffer, visit: (row: SealedRowView) => void): { block: number; count: number } {
  const block = buf.readUInt32BE(0);
  const count = buf.readUInt32BE(4);
  const fieldsAt = buf.readUInt32BE(8);
  if (fieldsAt > buf.length) throw new Error(`batch: fields at ${fieldsAt}, past its ${buf.length} bytes`);
  let f = fieldsAt;
  let listenerAt = -1;
  let listenerLen = 0;
  let peerAt = -1;
  let peerLen = 0;
  const ab = buf.buffer;
  const base = buf.byteOffset;
  const row: SealedRowView = { seq: 0, block, received_at_us: 0, transport: 0, flags: 0, listener: '', peer_address: '', peer_port: 0, raw: buf, mac: buf, fieldsUtf8: buf, leafInput: buf };
  let o = HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const len = buf.readUInt32BE(o);
    const e = o + 5;
    const end = e + len;
    if (buf[o + 4] !== 0x00 || buf[e] !== ENTRY_ENCODING_VERSION || end + MAC_BYTES + 4 > fieldsAt) {
      throw new Error(`batch: entry ${i} at byte ${o} is not a sealed v${ENTRY_ENCODING_VERSION} entry`);
    }
    const ll = buf.readUInt16BE(e + ENTRY_AT.listenerLength);
    const ls = e + ENTRY_AT.listener;
    if (listenerAt < 0 || ll !== listenerLen || !sameBytes(buf, listenerAt, ls, ll)) {
      row.listener = buf.toString('utf8', ls, ls + ll);
      listenerAt = ls;
      listenerLen = ll;
    }
    const pls = ls + ll;
    const pl = buf.readUInt16BE(pls);
    const ps = pls + PEER_LENGTH_BYTES;
    if (peerAt < 0 || pl !== peerLen || !sameBytes(buf, peerAt, ps, pl)) {
      row.peer_address = buf.toString('utf8', ps, ps + pl);
      peerAt = ps;
      peerLen = pl;
    }
    const rawLen = buf.readUInt32BE(ps + pl + PORT_BYTES);
    const rawAt = ps + pl + PORT_BYTES + RAW_LENGTH_BYTES;
    if (rawAt + rawLen !== end) throw new Error(`batch: entry ${i}: raw length ${rawLen} does not end at the entry's end`);
    const fl = buf.readUInt32BE(end + MAC_BYTES);
    if (f + fl > buf.length) throw new Error(`batch: entry ${i}: fields JSON runs past the batch`);
    row.seq = buf.readUInt32BE(e + ENTRY_AT.seq) * 0x1_0000_0000 + buf.readUInt32BE(e + ENTRY_AT.seq + 4);
    row.received_at_us = buf.readUInt32BE(e + ENTRY_AT.receivedAtUs) * 0x1_0000_0000 + buf.readUInt32BE(e + ENTRY_AT.receivedAtUs + 4);
    row.transport = buf[e + ENTRY_AT.transport]!;
    row.flags = buf.readUInt32BE(e + ENTRY_AT.flags);
    row.peer_port = buf.readUInt16BE(ps + pl);
    row.raw = new Uint8Array(ab, base + rawAt, rawLen);
    row.mac = new Uint8Array(ab, base + end, MAC_BYTES);
    row.fieldsUtf8 = new Uint8Array(ab, base + f, fl);
    row.leafInput = new Uint8Array(ab, base + o + 4, end - o - 4);
    visit(row);
    f += fl;
    o = end + MAC_BYTES + 4;
  }
  if (o !== fieldsAt || f !== buf.length) throw new Error(`batch: expected entries to end at ${fieldsAt} and fields at ${buf.length}, read ${o} and ${f}`);
  return { block, count };
}
