import { Worker } from 'node:worker_threads';
import type { DatagramSource, OpenDatagramSource } from '../receive/udp.js';
import { OUTSTANDING_BYTES, READER_DROPS, SHARED_COUNTERS, unpackRecords, type FromReader, type ReaderData, type ToReader } from './udp-reader-protocol.js';

/** The reader is a small loop: V8's default young generation (48 MB) would be most of its memory. */
const READER_YOUNG_GENERATION_MB = 4;

/**
 * A UDP listener's socket, read on a thread of its own (udp-reader-thread.ts): the main thread
 * takes the datagrams in batches, between its other work, and a busy main thread no longer
 * leaves them to overflow the kernel's buffer. While the write queue is congested, batches wait
 * here as they came (about 280 bytes a datagram, a third of a queued frame), in arrival order,
 * up to the reader's limit (READER_LIMIT_BYTES): a burst is absorbed and worked off after.
 */
export const threadSource: OpenDatagramSource = (bind, flow, onDatagram, onError) => {
  const shared = new SharedArrayBuffer(SHARED_COUNTERS * 4);
  const counters = new Int32Array(shared);
  const worker = new Worker(new URL('./udp-reader-thread.js', import.meta.url), {
    workerData: { ...bind, shared } satisfies ReaderData,
    resourceLimits: { maxYoungGenerationSizeMb: READER_YOUNG_GENERATION_MB },
  });
  let closed: (() => void) | undefined;
  const waiting: { buffer: ArrayBuffer; count: number }[] = [];
  let head = 0;
  const take = (b: { buffer: ArrayBuffer; count: number }): void => {
    unpackRecords(Buffer.from(b.buffer), b.count, 0, onDatagram);
    Atomics.sub(counters, OUTSTANDING_BYTES, b.buffer.byteLength);
  };
  const resume = (): void => {
    while (head < waiting.length && !flow.congested) {
      const b = waiting[head]!;
      waiting[head++] = undefined as never;
      take(b);
    }
    if (head === waiting.length) {
      waiting.length = 0;
      head = 0;
    }
  };
  flow.onDrain(resume);
  return new Promise<DatagramSource>((resolve, reject) => {
    worker.on('error', (e) => {
      reject(e);
      onError(new Error(`UDP reader thread died: ${e.message}`));
    });
    worker.on('message', (m: FromReader) => {
      if (m.type === 'datagrams') {
        if (head === waiting.length && !flow.congested) take(m);
        else waiting.push({ buffer: m.buffer, count: m.count });
      } else if (m.type === 'bound') {
        resolve({
          address: m.address,
          grantedBytes: m.grantedBytes,
          get dropped() {
            return Atomics.load(counters, READER_DROPS);
          },
          close: () =>
            new Promise<void>((done) => {
              closed = () => {
                // Stopping: what still waits goes to the queue, which takes it or counts it dropped.
                for (let i = head; i < waiting.length; i++) take(waiting[i]!);
                waiting.length = 0;
                head = 0;
                done();
              };
              worker.postMessage({ type: 'close' } satisfies ToReader);
            }).then(() => worker.terminate().then(() => undefined)),
        });
      } else if (m.type === 'bind-failed') {
        void worker.terminate();
        reject(new Error(m.message));
      } else if (m.type === 'error') {
        onError(new Error(m.message));
      } else {
        closed?.();
      }
    });
  });
};
