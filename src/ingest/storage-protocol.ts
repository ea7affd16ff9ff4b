import type { BlockRow } from '../store/log-store.js';

/**
 * The messages between the storage client (main thread, storage-client.ts) and the storage
 * thread (storage-thread.ts). The thread handles them strictly in arrival order, so a block seal
 * or a checkpoint always lands after every batch posted before it.
 */
export type ToStorage =
  | { type: 'batch'; buffer: ArrayBuffer; byteOffset: number; byteLength: number }
  /** Close block `block` (its entries were all posted before this) and open `next`. */
  | { type: 'seal-block'; block: number; next: BlockRow }
  | { type: 'checkpoint'; idx: number; timeUs: number; bytes: Uint8Array }
  | { type: 'close' }
  /**
   * Stop retrying: the daemon is stopping and its time is up. Whatever is still queued is
   * dropped, the database closed (an uncommitted transaction rolls back) and 'abandoned' sent.
   */
  | { type: 'abandon' };

export type FromStorage =
  /** `buffers`: the committed batches' memory, handed back for reuse. */
  | { type: 'committed'; count: number; bytes: number; lastSeq: number; buffers: ArrayBuffer[] }
  | { type: 'block-sealed'; block: number; firstSeq: number; count: number; entryRoot: Uint8Array }
  | { type: 'checkpoint-committed'; idx: number }
  | { type: 'commit-failed'; error: string; retryMs: number; pending: number }
  | { type: 'closed' }
  /** After 'abandon': every 'committed' before this one is all that was written. */
  | { type: 'abandoned'; tasks: number };

