import type { ReceivedFrame } from './frame.js';

/** Where listeners hand frames; the write queue behind it decides about backpressure. */
export interface FrameSink {
  /** Returns false when the frame could not be queued (UDP drops it, streams never see false). */
  accept(frame: ReceivedFrame): boolean;
  /** True while the queue is above its high-water mark: stream listeners pause their sockets. */
  readonly congested: boolean;
  /** Called with a listener's resume function when congestion clears. */
  onDrain(fn: () => void): () => void;
  /**
   * Commit what is queued without waiting for the batch delay: a RELP sender waits for the
   * acknowledgements of its window before it sends more, so the delay would only idle it.
   */
  flushSoon?(): void;
}

/** Rate-limited warnings for bad input: a flood of garbage must not become a flood of log lines. */
export interface Warn {
  (kind: string, message: string, meta?: Record<string, unknown>): void;
}
