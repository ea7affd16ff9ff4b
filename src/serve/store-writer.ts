import { Worker } from 'node:worker_threads';
import type { SealedBatch } from '../chain/batch.js';
import type { BlockRow } from '../store/log-store.js';
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
  private readonly waiters = new Map<string, (m: FromWorker) => void>();

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
    } else if (m.type === 'block-sealed') {
      this.waiters.get(`seal:${m.block}`)?.(m);
    } else if (m.type === 'checkpoint-committed') {
      this.waiters.get(`checkpoint:${m.idx}`)?.(m);
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

  private await<T extends FromWorker>(key: string): Promise<T> {
    return new Promise<T>((resolve) => {
      this.waiters.set(key, (m) => {
        this.waiters.delete(key);
        resolve(m as T);
      });
    });
  }

  /**
   * Closes `block` after everything posted so far and opens `next`. Resolves with the closed
   * block's entry count and Merkle root, as committed.
   */
  sealBlock(block: number, next: BlockRow): Promise<Extract<FromWorker, { type: 'block-sealed' }>> {
    const done = this.await<Extract<FromWorker, { type: 'block-sealed' }>>(`seal:${block}`);
    this.worker.postMessage({ type: 'seal-block', block, next } satisfies ToWorker);
    return done;
  }

  /** Resolves once the checkpoint is committed. */
  commitCheckpoint(idx: number, timeUs: number, bytes: Buffer): Promise<unknown> {
    const done = this.await(`checkpoint:${idx}`);
    this.worker.postMessage({ type: 'checkpoint', idx, timeUs, bytes } satisfies ToWorker);
    return done;
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
