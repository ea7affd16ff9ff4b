import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { nowUs } from '../chain/clock.js';
import { OUTSTANDING_BYTES, READER_DROPS, READER_LIMIT_BYTES, RECORD_HEAD_BYTES, type ReaderData, type FromReader, type ToReader } from './udp-reader-protocol.js';

/**
 * The UDP reader thread (udp-reader.ts starts one per UDP listener): it only takes datagrams off
 * the socket, stamps them and passes them on in batches. The main thread parses, chains and
 * queues them; when it falls behind (the first second after a start, a GC pause) the datagrams
 * wait in its memory instead of overflowing the kernel's buffer, and this thread, idle most of the
 * time, is the one the scheduler runs first when a datagram arrives.
 */
const { host, port, recvBufferSize, shared } = workerData as ReaderData;
const counters = new Int32Array(shared);
const out = parentPort!;
const post = (m: FromReader, transfer?: ArrayBuffer[]): void => out.postMessage(m, transfer ?? []);

/** Batch being filled; each post copies out what it holds, so this one is reused. */
const CHUNK_BYTES = 256 * 1024;
const chunk = Buffer.allocUnsafeSlow(CHUNK_BYTES);
let used = 0;
let count = 0;
let scheduled = false;

function flush(): void {
  scheduled = false;
  if (count === 0) return;
  const ab = chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + used);
  Atomics.add(counters, OUTSTANDING_BYTES, used);
  post({ type: 'datagrams', buffer: ab, count }, [ab]);
  used = 0;
  count = 0;
}

/** Record: u32 raw length | u16 peer port | u8 address length | f64 receive time (µs) | address | raw. */
function append(msg: Buffer, address: string, peerPort: number, at: number): void {
  const need = RECORD_HEAD_BYTES + address.length + msg.length;
  if (Atomics.load(counters, OUTSTANDING_BYTES) + used + need > READER_LIMIT_BYTES) {
    Atomics.add(counters, READER_DROPS, 1);
    return;
  }
  if (used + need > CHUNK_BYTES) flush();
  let o = chunk.writeUInt32LE(msg.length, used);
  o = chunk.writeUInt16LE(peerPort, o);
  o = chunk.writeUInt8(address.length, o);
  o = chunk.writeDoubleLE(at, o);
  o += chunk.write(address, o, 'latin1');
  o += msg.copy(chunk, o);
  used = o;
  count++;
  // After this poll round's datagrams are read: batches of up to libuv's 32 reads per wake-up.
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}

const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', ipv6Only: isIPv6(host) && host !== '::', recvBufferSize });
socket.once('error', (e) => post({ type: 'bind-failed', message: e.message }));
socket.bind(port, host, () => {
  socket.removeAllListeners('error');
  socket.on('error', (e) => post({ type: 'error', message: e.message }));
  socket.on('message', (msg, rinfo) => append(msg, rinfo.address, rinfo.port, nowUs()));
  post({ type: 'bound', address: socket.address(), grantedBytes: Math.floor(socket.getRecvBufferSize() / 2) });
});

out.on('message', (m: ToReader) => {
  if (m.type !== 'close') return;
  socket.close(() => {
    flush();
    post({ type: 'closed' });
  });
});
