import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { wallOffsetUs } from '../chain/clock.js';
import type { DatagramSource, OpenDatagramSource } from '../receive/udp.js';
import { READER_LIMIT_BYTES, unpackRecords } from './udp-reader-protocol.js';

/**
 * A UDP listener's socket drained by a C thread (src/serve/udp-drain, built by `npm install`):
 * recvmmsg, a stamp and a queue, nothing else, so a burst after a restart waits in the queue
 * rather than overflowing the kernel's buffer while V8 warms up. The main thread takes the
 * queued datagrams in chunks whenever the write queue is not congested, exactly as it takes the
 * JS reader thread's batches (udp-reader.ts), which serves where the addon is not built.
 *
 * This file sits two folders below the checkout both as src/serve/*.ts and as dist/serve/*.js,
 * so one path serves both.
 */
export const UDP_DRAIN_PATH = fileURLToPath(new URL('../../src/serve/udp-drain/build/Release/immutalog_udp.node', import.meta.url));

interface Drain {
  readonly CHUNK_BYTES: number;
  open(host: string, port: number, recvBufferSize: number, limitBytes: number, onReadable: () => void): object;
  address(d: object): { address: string; family: string; port: number; grantedBytes: number };
  take(d: object, out: Buffer): [bytes: number, count: number];
  dropped(d: object): number;
  close(d: object): void;
  error(d: object): string;
}

let loaded: { drain: Drain } | { reason: string } | undefined;

/** The addon, or why it cannot be used (loaded once). The only module that loads it. */
export function loadUdpDrain(): { drain: Drain } | { reason: string } {
  if (loaded) return loaded;
  try {
    loaded = { drain: createRequire(import.meta.url)(UDP_DRAIN_PATH) as Drain };
  } catch (e) {
    loaded = (e as { code?: string }).code === 'MODULE_NOT_FOUND'
      ? { reason: `the UDP drain addon is not built (expected ${UDP_DRAIN_PATH}; run \`npm run build:native\`)` }
      : { reason: `the UDP drain addon at ${UDP_DRAIN_PATH} did not load: ${(e as Error).message.split('\n')[0]}` };
  }
  return loaded;
}

/** Opens a listener's socket on the C drain thread; the addon must have loaded (loadUdpDrain). */
export const drainSource: OpenDatagramSource = async ({ host, port, recvBufferSize }, flow, onDatagram, onError) => {
  const got = loadUdpDrain();
  if (!('drain' in got)) throw new Error(got.reason);
  const { drain } = got;
  const out = Buffer.allocUnsafeSlow(drain.CHUNK_BYTES);
  let closing = false;
  /** Takes what is queued, chunk by chunk, while the write queue takes it; an empty take re-arms the wake-up. */
  const takeAll = (): void => {
    const err = drain.error(handle);
    if (err) onError(new Error(err));
    while (!flow.congested || closing) {
      const [bytes, count] = drain.take(handle, out);
      if (bytes === 0) return;
      // Copied out to its own size: the queue keeps the datagrams as views until they are committed.
      unpackRecords(Buffer.from(out.subarray(0, bytes)), count, wallOffsetUs(), onDatagram);
    }
  };
  const handle = drain.open(host, port, recvBufferSize, READER_LIMIT_BYTES, () => takeAll());
  const unsubscribe = flow.onDrain(takeAll);
  const a = drain.address(handle);
  const source: DatagramSource = {
    address: { address: a.address, family: a.family, port: a.port },
    grantedBytes: a.grantedBytes,
    get dropped() {
      return drain.dropped(handle);
    },
    close: async () => {
      drain.close(handle);
      unsubscribe();
      // Stopping: what still waits goes to the queue, which takes it or counts it dropped.
      closing = true;
      takeAll();
    },
  };
  return source;
};
