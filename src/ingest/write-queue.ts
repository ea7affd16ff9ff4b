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
  /** Seals one batch and hands it to storage (which retries failed commits itself). */
  commit: (frames: ReceivedFrame[]) => void;
  /** Bytes handed to storage and not yet durable: they count towards the high-water mark. */
  inFlightBytes: () => number;
}

/**
 * Batches frames for the sequencer and applies backpressure: streams pause while the bytes
 * queued here plus those not yet committed by storage are over the high-water mark.
 */
export class WriteQueue implements FrameSink {
  private frames: ReceivedFrame[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private readonly drainListeners = new Set<() => void>();

  constructor(private readonly o: WriteQueueOptions) {}

  get congested(): boolean {
    return this.bytes + this.o.inFlightBytes() > this.o.highWaterBytes;
  }

  get queuedFrames(): number {
    return this.frames.length;
  }

  get queuedBytes(): number {
    return this.bytes;
  }

  accept(frame: ReceivedFrame): boolean {
    if (frame.transport === 'udp' && this.bytes + this.o.inFlightBytes() > this.o.hardLimitBytes) return false;
    this.frames.push(frame);
    this.bytes += frame.raw.length;
    if (this.frames.length >= this.o.maxBatch) {
      this.immediate ??= setImmediate(() => this.flushNow());
    } else {
      this.timer ??= setTimeout(() => this.flushNow(), this.o.maxDelayMs);
    }
    return true;
  }

  flushSoon(): void {
    if (this.frames.length > 0) this.immediate ??= setImmediate(() => this.flushNow());
  }

  onDrain(fn: () => void): () => void {
    this.drainListeners.add(fn);
    return () => this.drainListeners.delete(fn);
  }

  private flushing = false;

  /**
   * Hands everything queued to storage, in batches of at most maxBatch. Re-entrant calls (a
   * checkpoint started while a batch is being sealed) return at once: the outer call goes on
   * in arrival order.
   */
  flushNow(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      this.flushAll();
    } finally {
      this.flushing = false;
    }
  }

  private flushAll(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    while (this.frames.length > 0) {
      const batch = this.frames.length <= this.o.maxBatch ? this.frames : this.frames.slice(0, this.o.maxBatch);
      this.frames = batch === this.frames ? [] : this.frames.slice(batch.length);
      for (const f of batch) this.bytes -= f.raw.length;
      this.o.commit(batch);
    }
  }

  /** Storage committed something: streams paused for congestion may go on. */
  storageProgressed(): void {
    if (this.congested) return;
    for (const fn of this.drainListeners) fn();
  }
}
