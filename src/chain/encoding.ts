import { TRANSPORT, type TransportName } from '../receive/frame.js';
import { KNOWN_FLAGS } from '../receive/flags.js';

/** Version byte of the entry encoding. A new layout gets a new number; old entries keep theirs. */
export const ENTRY_ENCODING_VERSION = 1;

/** u16 length prefix: a listener name or peer address longer than this is a bug, not input. */
const MAX_SHORT_FIELD_BYTES = 0xffff;
/** u32 length prefix; the receiver caps messages far below this (see MAX_MESSAGE_BYTES_LIMIT). */
const MAX_RAW_BYTES = 0xffffffff;

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

/**
 * Canonical entry encoding v1, all integers big-endian, every variable field length-prefixed,
 * so that no two different entries share an encoding:
 *   u8 version | u64 seq | u64 received_at_us | u8 transport | u32 flags |
 *   u16 len | listener (UTF-8) | u16 len | peer address (UTF-8) | u16 peer port | u32 len | raw
 */
export function encodeEntry(e: EntryFields): Buffer {
  checkUint('seq', e.seq, Number.MAX_SAFE_INTEGER);
  checkUint('receivedAtUs', e.receivedAtUs, Number.MAX_SAFE_INTEGER);
  checkUint('peerPort', e.peerPort, 0xffff);
  checkUint('flags', e.flags, 0xffffffff);
  if ((e.flags & ~KNOWN_FLAGS) !== 0) {
    throw new EncodingError('flags', `a subset of 0x${KNOWN_FLAGS.toString(16)}`, `0x${e.flags.toString(16)}`);
  }
  const transport = Object.hasOwn(TRANSPORT, e.transport) ? TRANSPORT[e.transport] : undefined;
  if (transport === undefined) throw new EncodingError('transport', 'udp, tcp or tls', String(e.transport));
  const listenerLen = Buffer.byteLength(e.listener, 'utf8');
  const peerLen = Buffer.byteLength(e.peerAddress, 'utf8');
  checkUint('listener length', listenerLen, MAX_SHORT_FIELD_BYTES);
  checkUint('peer address length', peerLen, MAX_SHORT_FIELD_BYTES);
  checkUint('raw length', e.raw.length, MAX_RAW_BYTES);

  const out = Buffer.allocUnsafe(1 + 8 + 8 + 1 + 4 + 2 + listenerLen + 2 + peerLen + 2 + 4 + e.raw.length);
  let o = out.writeUInt8(ENTRY_ENCODING_VERSION, 0);
  o = out.writeBigUInt64BE(BigInt(e.seq), o);
  o = out.writeBigUInt64BE(BigInt(e.receivedAtUs), o);
  o = out.writeUInt8(transport, o);
  o = out.writeUInt32BE(e.flags, o);
  o = out.writeUInt16BE(listenerLen, o);
  o += out.write(e.listener, o, 'utf8');
  o = out.writeUInt16BE(peerLen, o);
  o += out.write(e.peerAddress, o, 'utf8');
  o = out.writeUInt16BE(e.peerPort, o);
  o = out.writeUInt32BE(e.raw.length, o);
  e.raw.copy(out, o);
  return out;
}
