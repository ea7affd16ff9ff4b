import { encodedLength, encodeEntryInto, prepareStrings, type EntryFields, type PreparedStrings } from './encoding.js';
import { chainMac, MAC_BYTES } from './mac.js';

/**
 * A sealed batch, as handed from the sequencer to the storage thread in one transferable
 * buffer (in-process only, never stored):
 *   u32 block | u32 count | count x ( u32 len | 0x00 | entry encoding | 32-byte MAC | u32 len | fields JSON )
 * The 0x00 before each encoding makes `0x00 || enc`, the entry's RFC 6962 leaf input, one
 * contiguous slice, so the storage thread hashes it in one call without a copy.
 */
export interface SealedBatch {
  buffer: Buffer;
  count: number;
  firstSeq: number;
  block: number;
}

export type SealInput = Omit<EntryFields, 'seq'>;

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
export function sealBatch(
  at: ChainPosition,
  items: readonly SealInput[],
  /** Parsed-field JSON of each item, for the index; not covered by the MAC. */
  fieldsJson: readonly string[],
): { batch: SealedBatch; next: ChainPosition } {
  const strings = new Map<string, PreparedStrings>();
  const prepared: PreparedStrings[] = new Array(items.length);
  const fieldBytes: number[] = new Array(items.length);
  let size = 8;
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    const key = `${it.listener}\0${it.peerAddress}`;
    let s = strings.get(key);
    if (!s) strings.set(key, (s = prepareStrings(it.listener, it.peerAddress)));
    prepared[i] = s;
    fieldBytes[i] = Buffer.byteLength(fieldsJson[i]!, 'utf8');
    size += 4 + 1 + encodedLength(it.raw.length, s) + MAC_BYTES + 4 + fieldBytes[i]!;
  }
  // Its own ArrayBuffer (not a slice of the shared pool), so it can be transferred without a copy.
  const buf = Buffer.allocUnsafeSlow(size);
  buf.writeUInt32BE(at.block, 0);
  buf.writeUInt32BE(items.length, 4);
  let o = 8;
  let head = at.head;
  let seq = at.nextSeq;
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
    head = chainMac(at.blockKey, head, buf.subarray(start, end));
    head.copy(buf, end);
    o = end + MAC_BYTES;
    o = buf.writeUInt32BE(fieldBytes[i]!, o);
    o += buf.write(fieldsJson[i]!, o, 'utf8');
    seq++;
  }
  return { batch: { buffer: buf, count: items.length, firstSeq: at.nextSeq, block: at.block }, next: { ...at, nextSeq: seq, head } };
}

export interface UnpackedEntry {
  encoding: Buffer;
  /** `0x00 || encoding`: the RFC 6962 leaf input. */
  leafInput: Buffer;
  mac: Buffer;
  fieldsJson: string;
}

export function unpackBatch(buf: Buffer): { block: number; entries: UnpackedEntry[] } {
  const block = buf.readUInt32BE(0);
  const count = buf.readUInt32BE(4);
  const entries: UnpackedEntry[] = new Array(count);
  let o = 8;
  for (let i = 0; i < count; i++) {
    const len = buf.readUInt32BE(o);
    const leafInput = buf.subarray(o + 4, o + 5 + len);
    const encoding = leafInput.subarray(1);
    o += 5 + len;
    const mac = buf.subarray(o, o + MAC_BYTES);
    o += MAC_BYTES;
    const fl = buf.readUInt32BE(o);
    const fieldsJson = buf.toString('utf8', o + 4, o + 4 + fl);
    o += 4 + fl;
    entries[i] = { encoding, leafInput, mac, fieldsJson };
  }
  if (o !== buf.length) throw new Error(`batch: expected ${buf.length} bytes, read ${o}`);
  return { block, entries };
}
