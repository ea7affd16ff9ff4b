import { isUtf8 } from 'node:buffer';

/**
 * The stored entry format: what the MAC covers for one message. Every constant here is part of
 * the bytes that old logs were chained with, so none may be renumbered; a new layout gets a new
 * version and old entries keep theirs.
 *
 * Entry encoding v1, all integers big-endian, every variable field length-prefixed, so that no
 * two different entries share an encoding:
 *   u8 version | u64 seq | u64 received_at_us | u8 transport | u32 flags |
 *   u16 len | listener (UTF-8) | u16 len | peer address (UTF-8) | u16 peer port | u32 len | raw
 */
export const ENTRY_ENCODING_VERSION = 1;

/** How a frame reached us, as the entry's transport byte. */
export const TRANSPORT = { udp: 1, tcp: 2, tls: 3 } as const;
export type TransportName = keyof typeof TRANSPORT;
export const TRANSPORT_BY_CODE: Readonly<Record<number, TransportName>> = { 1: 'udp', 2: 'tcp', 3: 'tls' };

// Entry flags are observations made while receiving; their bits are the entry's u32 flags.

/** The frame was longer than the configured maximum; `raw` holds only its first bytes. */
export const FLAG_TRUNCATED = 0x01;
/** The stream ended (close, reset, idle timeout) before the frame's terminator or count. */
export const FLAG_INCOMPLETE = 0x02;
/** `raw` is not valid UTF-8. It is stored exactly as received all the same. */
export const FLAG_INVALID_UTF8 = 0x04;
export const KNOWN_FLAGS = FLAG_TRUNCATED | FLAG_INCOMPLETE | FLAG_INVALID_UTF8;

export function utf8Flag(raw: Uint8Array): number {
  return isUtf8(raw) ? 0 : FLAG_INVALID_UTF8;
}

/** Byte offsets of the fixed head, up to the listener's bytes. */
export const ENTRY_AT = {
  version: 0,
  seq: 1,
  receivedAtUs: 9,
  transport: 17,
  flags: 18,
  listenerLength: 22,
  listener: 24,
} as const;

/** After the listener's bytes: u16 peer address length, then the address. */
export const PEER_LENGTH_BYTES = 2;
/** After the peer address: u16 peer port, then u32 raw length, then raw. */
export const PORT_BYTES = 2;
export const RAW_LENGTH_BYTES = 4;

/** Every byte that is not a variable field: the head plus the peer length, port and raw length. */
export const FIXED_BYTES = ENTRY_AT.listener + PEER_LENGTH_BYTES + PORT_BYTES + RAW_LENGTH_BYTES;

/** u16 length prefix: a listener name or peer address longer than this is a bug, not input. */
export const MAX_SHORT_FIELD_BYTES = 0xffff;
/** u32 length prefix; the receiver caps messages far below this (see MAX_MESSAGE_BYTES_LIMIT). */
export const MAX_RAW_BYTES = 0xffffffff;
