import type { ReceivedFrame } from '../receive/frame.js';
import type { FrameSink } from '../receive/sink.js';

export interface WriteQueueOptions {
  /** A batch is committed at the latest this long after its first frame arrived. */
  maxDelayMs: number;
  /** ...or as soon as it holds this many frames. */
  maxBatch: number;
  /** Above this many queued bytes, stream listeners pause their sockets. */
  highWaterBytes: number;
  /** Above this, datagrams are dropped (and counted) rather than exhausting memory. */
  hardLimitBytes: number;
  /** Commits one batch; throws when the store cannot take it (disk full, I/O error). */
  commit: (frames: ReceivedFrame[]) => void;
  onCommitError: (e: Error, queuedFrames: number) => void;
}

/** Failed commits are retried after this long, doubling up to the cap. */
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;

/**
 * Batches frames for the chain writer and applies backpressure. Nothing accepted here is ever
 * dropped: if a commit fails, the batch stays at the head of the queue and is retried.
 */
export class WriteQueue implements FrameSink {
  private frames: ReceivedFrame[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private retryMs = 0;
  private readonly drainListeners = new Set<() => void>();
  committed = 0;
  commitFailures = 0;
  lastCommitError: string | undefined;

  constructor(private readonly o: WriteQueueOptions) {}

  get congested(): boolean {
    return this.bytes > this.o.highWaterBytes;
  }

  get queuedFrames(): number {
    return this.frames.length;
  }

  get queuedBytes(): number {
    return this.bytes;
  }

  accept(frame: ReceivedFrame): boolean {
    if (frame.transport === 'udp' && this.bytes > this.o.hardLimitBytes) return false;
    this.frames.push(frame);
    this.bytes += frame.raw.length;
    if (this.retryMs > 0) return true;
    if (this.frames.length >= this.o.maxBatch) {
      this.immediate ??= setImmediate(() => this.flushNow());
    } else {
      this.timer ??= setTimeout(() => this.flushNow(), this.o.maxDelayMs);
    }
    return true;
  }

  onDrain(fn: () => void): () => void {
    this.drainListeners.add(fn);
    return () => this.drainListeners.delete(fn);
  }

  /** Commits everything queued; on failure keeps it and schedules a retry. Returns success. */
  flushNow(): boolean {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    while (this.frames.length > 0) {
      const batch = this.frames.length <= this.o.maxBatch ? this.frames : this.frames.slice(0, this.o.maxBatch);
      try {
        this.o.commit(batch);
      } catch (e) {
        this.commitFailures++;
        this.lastCommitError = (e as Error).message;
        this.retryMs = Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, this.retryMs * 2));
        this.o.onCommitError(e as Error, this.frames.length);
        this.timer = setTimeout(() => this.flushNow(), this.retryMs);
        return false;
      }
      this.retryMs = 0;
      this.lastCommitError = undefined;
      this.committed += batch.length;
      let b = 0;
      for (const f of batch) b += f.raw.length;
      this.bytes -= b;
      this.frames = batch === this.frames ? [] : this.frames.slice(batch.length);
    }
    for (const fn of this.drainListeners) fn();
    return true;
  }
}
