import {
  ENTRY_AT, ENTRY_ENCODING_VERSION, FIXED_BYTES, KNOWN_FLAGS, MAX_RAW_BYTES, MAX_SHORT_FIELD_BYTES,
  PEER_LENGTH_BYTES, PORT_BYTES, RAW_LENGTH_BYTES, TRANSPORT, TRANSPORT_BY_CODE, type TransportName,
} from './entry-format.js';

/** What the MAC covers for one entry. Parsed fields are not here: they are derived from `raw`. */
export interface EntryFields {
  seq: number;
  receivedAtUs: number;
  transport: TransportName;
  flags: number;
  listener: string;
  peerAddress: string;
  peerPort: number;
  raw: Buffer;
}

export class EncodingError extends Error {
  readonly code = 'ENCODING_FIELD_OUT_OF_RANGE';
  constructor(readonly field: string, readonly expected: string, readonly actual: string) {
    super(`entry field ${field}: expected ${expected}, got ${actual}`);
  }
}

function checkUint(field: string, value: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new EncodingError(field, `an integer in 0..${max}`, String(value));
  }
}

/** Listener and peer strings repeat for every entry of a connection; their bytes are prepared once. */
export interface PreparedStrings {
  listener: Buffer;
  peerAddress: Buffer;
}

function check(e: EntryFields, s: PreparedStrings): number {
  checkUint('seq', e.seq, Number.MAX_SAFE_INTEGER);
  checkUint('receivedAtUs', e.receivedAtUs, Number.MAX_SAFE_INTEGER);
  checkUint('peerPort', e.peerPort, 0xffff);
  checkUint('flags', e.flags, 0xffffffff);
  if ((e.flags & ~KNOWN_FLAGS) !== 0) {
    throw new EncodingError('flags', `a subset of 0x${KNOWN_FLAGS.toString(16)}`, `0x${e.flags.toString(16)}`);
  }
  const transport = Object.hasOwn(TRANSPORT, e.transport) ? TRANSPORT[e.transport] : undefined;
  if (transport === undefined) throw new EncodingError('transport', 'udp, tcp or tls', String(e.transport));
  checkUint('listener length', s.listener.length, MAX_SHORT_FIELD_BYTES);
  checkUint('peer address length', s.peerAddress.length, MAX_SHORT_FIELD_BYTES);
  checkUint('raw length', e.raw.length, MAX_RAW_BYTES);
  return transport;
}

export function encodedLength(rawLength: number, s: PreparedStrings): number {
  return FIXED_BYTES + s.listener.length + s.peerAddress.length + rawLength;
}

/** A u64 for values up to 2^53 - 1, without a BigInt per call (the ingest hot path). */
function writeU64(out: Buffer, v: number, o: number): number {
  out.writeUInt32BE(Math.floor(v / 0x1_0000_0000), o);
  out.writeUInt32BE(v >>> 0, o + 4);
  return o + 8;
}

function readU64(b: Buffer, o: number, field: string): number {
  const v = b.readUInt32BE(o) * 0x1_0000_0000 + b.readUInt32BE(o + 4);
  if (!Number.isSafeInteger(v)) throw new EncodingError(field, 'at most 2^53 - 1', String(v));
  return v;
}

/** Writes the entry encoding (chain/entry-format.ts) into `out` at `offset`; returns the offset after it. */
export function encodeEntryInto(out: Buffer, offset: number, e: EntryFields, s: PreparedStrings): number {
  const transport = check(e, s);
  let o = out.writeUInt8(ENTRY_ENCODING_VERSION, offset);
  o = writeU64(out, e.seq, o);
  o = writeU64(out, e.receivedAtUs, o);
  o = out.writeUInt8(transport, o);
  o = out.writeUInt32BE(e.flags, o);
  o = out.writeUInt16BE(s.listener.length, o);
  o += s.listener.copy(out, o);
  o = out.writeUInt16BE(s.peerAddress.length, o);
  o += s.peerAddress.copy(out, o);
  o = out.writeUInt16BE(e.peerPort, o);
  o = out.writeUInt32BE(e.raw.length, o);
  o += e.raw.copy(out, o);
  return o;
}

export function prepareStrings(listener: string, peerAddress: string): PreparedStrings {
  return { listener: Buffer.from(listener, 'utf8'), peerAddress: Buffer.from(peerAddress, 'utf8') };
}

export function encodeEntry(e: EntryFields): Buffer {
  const s = prepareStrings(e.listener, e.peerAddress);
  const out = Buffer.allocUnsafe(encodedLength(e.raw.length, s));
  encodeEntryInto(out, 0, e, s);
  return out;
}

/** Reads an encoding back; `raw` is a view into `b`. Throws EncodingError on anything malformed. */
export function decodeEntry(b: Buffer): EntryFields {
  const need = (o: number, n: number, field: string): void => {
    if (o + n > b.length) throw new EncodingError(field, `${n} more bytes`, `${b.length - o}`);
  };
  need(0, ENTRY_AT.listenerLength, 'header');
  const version = b[ENTRY_AT.version];
  if (version !== ENTRY_ENCODING_VERSION) throw new EncodingError('version', String(ENTRY_ENCODING_VERSION), String(version));
  const seq = readU64(b, ENTRY_AT.seq, 'seq');
  const receivedAtUs = readU64(b, ENTRY_AT.receivedAtUs, 'receivedAtUs');
  const transport = TRANSPORT_BY_CODE[b[ENTRY_AT.transport]!];
  if (transport === undefined) throw new EncodingError('transport', '1, 2 or 3', String(b[ENTRY_AT.transport]));
  const flags = b.readUInt32BE(ENTRY_AT.flags);
  let o = ENTRY_AT.listenerLength;
  need(o, 2, 'listener length');
  const ll = b.readUInt16BE(o);
  need(o + 2, ll, 'listener');
  const listener = b.toString('utf8', o + 2, o + 2 + ll);
  o += 2 + ll;
  need(o, PEER_LENGTH_BYTES, 'peer address length');
  const pl = b.readUInt16BE(o);
  need(o + PEER_LENGTH_BYTES, pl, 'peer address');
  const peerAddress = b.toString('utf8', o + PEER_LENGTH_BYTES, o + PEER_LENGTH_BYTES + pl);
  o += PEER_LENGTH_BYTES + pl;
  need(o, PORT_BYTES + RAW_LENGTH_BYTES, 'peer port and raw length');
  const peerPort = b.readUInt16BE(o);
  const rl = b.readUInt32BE(o + PORT_BYTES);
  o += PORT_BYTES + RAW_LENGTH_BYTES;
  if (o + rl !== b.length) throw new EncodingError('raw length', String(b.length - o), String(rl));
  return { seq, receivedAtUs, transport, flags, listener, peerAddress, peerPort, raw: b.subarray(o, o + rl) };
}

/**
 * Where a row's variable fields lie in a buffer laid out for leafInputInPlace: LEAF_HEAD_BYTES
 * free before the listener, then listener, 2 free bytes, peer address, 6 free bytes, raw.
 */
export interface LeafLayout {
  listenerAt: number;
  listenerLength: number;
  peerLength: number;
  rawLength: number;
}

/** `0x00`, then the encoding's fixed head up to the listener's bytes. */
export const LEAF_HEAD_BYTES = 1 + ENTRY_AT.listener;
/** Free bytes between listener and peer address (its length), and between peer address and raw (port, raw length). */
export const LEAF_GAP_AFTER_LISTENER = PEER_LENGTH_BYTES;
export const LEAF_GAP_AFTER_PEER = PORT_BYTES + RAW_LENGTH_BYTES;

/**
 * `0x00 || enc(entry)` written around listener, peer address and raw where they already lie in
 * `b` (verify's chunked read, store/verify-read.ts, has SQL leave the gaps), so nothing is
 * copied: the same bytes as StoredEntryEncoder.leafInput for the same columns, from the
 * returned offset to the raw's end. Returns -1 when a column is out of range, and writes nothing
 * then: the caller encodes the row the slow way and gets the EncodingError that names the field.
 * The listener and peer address must be valid UTF-8 (the slow way re-encodes decoded strings).
 */
export function leafInputInPlace(b: Buffer, at: LeafLayout, seq: number, receivedAtUs: number, transport: number, flags: number, peerPort: number): number {
  if (
    !Number.isSafeInteger(seq) || seq < 0 || !Number.isSafeInteger(receivedAtUs) || receivedAtUs < 0
    || TRANSPORT_BY_CODE[transport] === undefined || !Number.isInteger(flags) || flags < 0 || flags > 0xffffffff || (flags & ~KNOWN_FLAGS) !== 0
    || !Number.isInteger(peerPort) || peerPort < 0 || peerPort > 0xffff
    || at.listenerLength > MAX_SHORT_FIELD_BYTES || at.peerLength > MAX_SHORT_FIELD_BYTES || at.rawLength > MAX_RAW_BYTES
  ) {
    return -1;
  }
  const start = at.listenerAt - LEAF_HEAD_BYTES;
  b[start] = 0x00;
  b[start + 1] = ENTRY_ENCODING_VERSION;
  let o = writeU64(b, seq, start + 2);
  o = writeU64(b, receivedAtUs, o);
  b[o++] = transport;
  o = b.writeUInt32BE(flags, o);
  b.writeUInt16BE(at.listenerLength, o);
  o = at.listenerAt + at.listenerLength;
  o = b.writeUInt16BE(at.peerLength, o) + at.peerLength;
  o = b.writeUInt16BE(peerPort, o);
  b.writeUInt32BE(at.rawLength, o);
  return start;
}

/** An entry as the store keeps it (column names), transport as its numeric code. */
export interface StoredEntryColumns {
  seq: number;
  received_at_us: number;
  transport: number;
  flags: number;
  listener: string;
  peer_address: string;
  peer_port: number;
  raw: Buffer;
}

function transportOfCode(code: number): TransportName {
  const transport = TRANSPORT_BY_CODE[code];
  if (transport === undefined) throw new EncodingError('transport', '1, 2 or 3', String(code));
  return transport;
}

/** The encoding of a stored row; throws EncodingError when a column is out of range. */
export function encodeStoredEntry(r: StoredEntryColumns): Buffer {
  return encodeEntry({
    seq: r.seq, receivedAtUs: r.received_at_us, transport: transportOfCode(r.transport), flags: r.flags,
    listener: r.listener, peerAddress: r.peer_address, peerPort: r.peer_port, raw: r.raw,
  });
}

/**
 * Encodes stored rows one after another into one reused buffer, as `0x00 || enc(row)` (the
 * RFC 6962 leaf input; `.subarray(1)` is what the MAC covers). Verify runs this once per entry,
 * so it allocates nothing per row and prepares a listener or peer address only when it differs
 * from the previous row's. The returned view is valid until the next call.
 */
export class StoredEntryEncoder {
  private out = Buffer.allocUnsafe(1024);
  private listener: string | undefined;
  private peerAddress: string | undefined;
  private strings: PreparedStrings | undefined;
  private readonly entry: EntryFields = { seq: 0, receivedAtUs: 0, transport: 'udp', flags: 0, listener: '', peerAddress: '', peerPort: 0, raw: this.out };

  /** Throws EncodingError when a column is out of range, like encodeStoredEntry. */
  leafInput(r: StoredEntryColumns): Buffer {
    const transport = transportOfCode(r.transport);
    if (this.strings === undefined || r.listener !== this.listener || r.peer_address !== this.peerAddress) {
      this.strings = prepareStrings(r.listener, r.peer_address);
      this.listener = r.listener;
      this.peerAddress = r.peer_address;
    }
    const n = 1 + encodedLength(r.raw.length, this.strings);
    if (this.out.length < n) this.out = Buffer.allocUnsafe(Math.max(n, this.out.length * 2));
    const e = this.entry;
    e.seq = r.seq;
    e.receivedAtUs = r.received_at_us;
    e.transport = transport;
    e.flags = r.flags;
    e.peerPort = r.peer_port;
    e.raw = r.raw;
    this.out[0] = 0x00;
    const end = encodeEntryInto(this.out, 1, e, this.strings);
    return this.out.subarray(0, end);
  }
}
