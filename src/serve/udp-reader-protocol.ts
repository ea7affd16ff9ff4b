/** What the main thread (udp-reader.ts) and a UDP reader thread (udp-reader-thread.ts) exchange. */
export interface ReaderData {
  host: string;
  port: number;
  recvBufferSize: number;
  /** Int32 counters both threads update: see OUTSTANDING_BYTES and READER_DROPS. */
  shared: SharedArrayBuffer;
}

/** Index of the bytes posted by the reader and not yet handed to the listener by the main thread. */
export const OUTSTANDING_BYTES = 0;
/** Index of the datagrams the reader dropped because READER_LIMIT_BYTES were outstanding. */
export const READER_DROPS = 1;
export const SHARED_COUNTERS = 2;

/**
 * Past this many bytes posted and not yet taken by the main thread, the reader drops datagrams
 * (counted as queue drops) instead of growing without bound while the main thread is stalled or
 * the write queue congested. 8 MiB holds about 30,000 datagrams of 256 bytes, besides the queue's
 * own 4 MiB: loggen's first second at --rate 50000 sends 95,000, of which a cold daemon chained
 * about half. 16 MiB took the daemon's peak RSS to 255 MB in that test on an overloaded machine
 * (issue 13 keeps it under 250); 8 MiB is the share of that the memory budget leaves.
 */
export const READER_LIMIT_BYTES = 8 * 1024 * 1024;

/** u32 raw length, u16 peer port, u8 address length, f64 receive time: the fixed part of a record. */
export const RECORD_HEAD_BYTES = 4 + 2 + 1 + 8;

/**
 * Hands each of `count` records in `b` on; the datagrams are views into `b`. `offsetUs` is added
 * to each record's time (the C drain stamps the monotonic clock; the JS reader stamps nowUs()).
 */
export function unpackRecords(b: Buffer, count: number, offsetUs: number, onDatagram: (msg: Buffer, address: string, port: number, receivedAtUs: number) => void): void {
  let o = 0;
  for (let i = 0; i < count; i++) {
    const len = b.readUInt32LE(o);
    const port = b.readUInt16LE(o + 4);
    const alen = b[o + 6]!;
    const at = b.readDoubleLE(o + 7) + offsetUs;
    o += RECORD_HEAD_BYTES;
    const address = b.toString('latin1', o, o + alen);
    o += alen;
    onDatagram(b.subarray(o, o + len), address, port, at);
    o += len;
  }
}

export type FromReader =
  | { type: 'bound'; address: { address: string; family: string; port: number }; grantedBytes: number }
  | { type: 'bind-failed'; message: string }
  | { type: 'error'; message: string }
  /** `count` records, each RECORD_HEAD_BYTES, then the peer address (latin1), then the datagram. */
  | { type: 'datagrams'; buffer: ArrayBuffer; count: number }
  /** The socket is closed and every datagram read before was posted. */
  | { type: 'closed' };

export type ToReader = { type: 'close' };
