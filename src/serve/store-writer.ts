import { Worker } from 'node:worker_threads';
import type { SealedBatch } from '../chain/batch.js';
import type { FromWorker, ToWorker } from '../store/ingest-worker.js';

/** Main-thread side of the storage thread: posts batches, tracks what is not yet durable. */
export class StoreWriter {
  private readonly worker: Worker;
  private closedPromise: Promise<void> | undefined;
  private resolveClosed: (() => void) | undefined;
  /** Bytes posted but not yet committed; part of the backpressure signal. */
  unackedBytes = 0;
  committed = 0;
  lastCommittedSeq = -1;
  commitFailures = 0;
  lastCommitError: string | undefined;
  private readonly committedListeners = new Set<() => void>();

  constructor(database: string, private readonly onFailure: (error: string, pending: number) => void) {
    this.worker = new Worker(new URL('../store/ingest-worker.js', import.meta.url), { workerData: { database } });
    this.worker.on('message', (m: FromWorker) => this.onMessage(m));
    this.worker.on('error', (e) => {
      this.lastCommitError = `storage thread died: ${e.message}`;
      this.onFailure(this.lastCommitError, -1);
    });
  }

  private onMessage(m: FromWorker): void {
    if (m.type === 'committed') {
      this.unackedBytes -= m.bytes;
      this.committed += m.count;
      this.lastCommittedSeq = m.lastSeq;
      this.lastCommitError = undefined;
      for (const fn of this.committedListeners) fn();
    } else if (m.type === 'commit-failed') {
      this.commitFailures++;
      this.lastCommitError = m.error;
      this.onFailure(m.error, m.pending);
    } else {
      this.resolveClosed?.();
    }
  }

  onCommitted(fn: () => void): () => void {
    this.committedListeners.add(fn);
    return () => this.committedListeners.delete(fn);
  }

  post(batch: SealedBatch): void {
    const b = batch.buffer;
    this.unackedBytes += b.byteLength;
    // A batch buffer is allocated for this purpose alone, so its memory can move to the worker.
    const owned = b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b.buffer : b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
    const msg: ToWorker = { type: 'batch', buffer: owned as ArrayBuffer, byteOffset: 0, byteLength: b.byteLength };
    this.worker.postMessage(msg, [owned as ArrayBuffer]);
  }

  /** Resolves once every posted batch is committed and the database is closed. */
  close(): Promise<void> {
    this.closedPromise ??= new Promise<void>((resolve) => {
      this.resolveClosed = resolve;
      this.worker.postMessage({ type: 'close' } satisfies ToWorker);
    }).then(() => this.worker.terminate().then(() => undefined));
    return this.closedPromise;
  }
}
