import { Worker } from 'node:worker_threads';
import type { SealedBatch } from '../chain/batch.js';
import type { BlockRow } from '../store/log-store.js';
import type { FromStorage, ToStorage } from './storage-protocol.js';

/**
 * Batch buffers go to the storage thread and come back once committed, to be written again:
 * left to the storage thread's garbage collector, the transferred buffers piled up as external
 * memory (tens of MB under a flood) before a collection freed them.
 */
const POOL_BUFFER_BYTES = 1 << 20;
/** More than the high-water mark keeps in flight, so a flood does not allocate afresh. */
const POOL_BUFFERS = 8;

/**
 * The storage thread's rows live only until their commit, so a small young generation costs it
 * little time; V8's default (48 MB) made it a quarter of the daemon's memory under a flood.
 */
const STORAGE_YOUNG_GENERATION_MB = 16;

/**
 * Main-thread side of the storage thread (storage-thread.ts, started here): posts batches, tracks
 * what is not yet durable.
 */
export class StorageClient {
  private readonly pool: ArrayBuffer[] = [];
  private readonly worker: Worker;
  private closedPromise: Promise<void> | undefined;
  private resolveClosed: (() => void) | undefined;
  private resolveAbandoned: (() => void) | undefined;
  /** The storage thread committed everything and closed the database. */
  private closed = false;
  /** Bytes posted but not yet committed; part of the backpressure signal. */
  unackedBytes = 0;
  committed = 0;
  lastCommittedSeq = -1;
  commitFailures = 0;
  lastCommitError: string | undefined;
  private readonly committedListeners = new Set<() => void>();
  private readonly waiters = new Map<string, (m: FromStorage) => void>();

  constructor(database: string, private readonly onFailure: (error: string, pending: number) => void) {
    this.worker = new Worker(new URL('./storage-thread.js', import.meta.url), { workerData: { database }, resourceLimits: { maxYoungGenerationSizeMb: STORAGE_YOUNG_GENERATION_MB } });
    this.worker.on('message', (m: FromStorage) => this.onMessage(m));
    this.worker.on('error', (e) => {
      this.lastCommitError = `storage thread died: ${e.message}`;
      this.onFailure(this.lastCommitError, -1);
    });
  }

  private onMessage(m: FromStorage): void {
    if (m.type === 'committed') {
      for (const b of m.buffers) if (this.pool.length < POOL_BUFFERS && b.byteLength === POOL_BUFFER_BYTES) this.pool.push(b);
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
    } else if (m.type === 'abandoned') {
      this.resolveAbandoned?.();
    } else {
      this.closed = true;
      this.resolveClosed?.();
    }
  }

  onCommitted(fn: () => void): () => void {
    this.committedListeners.add(fn);
    return () => this.committedListeners.delete(fn);
  }

  /** A buffer for a batch of `size` bytes, at offset 0 of an ArrayBuffer that can be transferred. */
  readonly allocate = (size: number): Buffer => {
    if (size > POOL_BUFFER_BYTES) return Buffer.allocUnsafeSlow(size);
    return Buffer.from(this.pool.pop() ?? new ArrayBuffer(POOL_BUFFER_BYTES), 0, size);
  };

  post(batch: SealedBatch): void {
    const b = batch.buffer;
    this.unackedBytes += b.byteLength;
    // A batch buffer is allocated for this purpose alone, so its memory can move to the worker.
    const owned = b.byteOffset === 0 && (b.byteLength === b.buffer.byteLength || b.buffer.byteLength === POOL_BUFFER_BYTES) ? b.buffer : b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
    const msg: ToStorage = { type: 'batch', buffer: owned as ArrayBuffer, byteOffset: 0, byteLength: b.byteLength };
    this.worker.postMessage(msg, [owned as ArrayBuffer]);
  }

  private await<T extends FromStorage>(key: string): Promise<T> {
    return new Promise<T>((resolve) => {
      this.waiters.set(key, (m) => {
        this.waiters.delete(key);
        resolve(m as T);
      });
    });
  }

  /** Resolves once every posted batch is committed (the crash tests' settled fault point). */
  async settled(): Promise<void> {
    while (this.unackedBytes > 0) await new Promise((r) => setTimeout(r, 5));
  }

  /**
   * Closes `block` after everything posted so far and opens `next`. Resolves with the closed
   * block's entry count and Merkle root, as committed.
   */
  sealBlock(block: number, next: BlockRow): Promise<Extract<FromStorage, { type: 'block-sealed' }>> {
    const done = this.await<Extract<FromStorage, { type: 'block-sealed' }>>(`seal:${block}`);
    this.worker.postMessage({ type: 'seal-block', block, next } satisfies ToStorage);
    return done;
  }

  /** Resolves once the checkpoint is committed. */
  commitCheckpoint(idx: number, timeUs: number, bytes: Buffer): Promise<unknown> {
    const done = this.await(`checkpoint:${idx}`);
    this.worker.postMessage({ type: 'checkpoint', idx, timeUs, bytes } satisfies ToStorage);
    return done;
  }

  /**
   * Gives up on what is not yet committed (the stop's time is up): the storage thread drops its
   * queue and closes the database. Resolves true once it confirmed, after which `lastCommittedSeq`
   * is exactly the last entry written; false when it did not answer within `waitMs` (it was
   * inside one commit), in which case a commit it finishes meanwhile goes unreported.
   */
  async abandon(waitMs: number): Promise<boolean> {
    // It finished just as the stop's time ran out: nothing is left to give up.
    if (this.closed) return true;
    let timer: NodeJS.Timeout | undefined;
    const answered = await Promise.race([
      new Promise<boolean>((resolve) => {
        this.resolveAbandoned = () => resolve(true);
        this.worker.postMessage({ type: 'abandon' } satisfies ToStorage);
      }),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), waitMs))),
    ]);
    clearTimeout(timer);
    await this.worker.terminate();
    return answered;
  }

  /** Resolves once every posted batch is committed and the database is closed. */
  close(): Promise<void> {
    this.closedPromise ??= new Promise<void>((resolve) => {
      this.resolveClosed = resolve;
      this.worker.postMessage({ type: 'close' } satisfies ToStorage);
    }).then(() => this.worker.terminate().then(() => undefined));
    return this.closedPromise;
  }
}
