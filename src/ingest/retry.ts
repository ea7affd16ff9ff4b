/** First wait after a failed write: a lock held for a moment is gone by then. */
export const RETRY_MIN_MS = 100;
/** Longest wait: space freed on a full disk is used within this, without a busy loop meanwhile. */
export const RETRY_MAX_MS = 5000;

/** Thrown by retryUntilDone once the caller gave up (a stop whose time ran out). */
export class RetryAbandoned extends Error {}

/**
 * Runs `attempt` until it succeeds, waiting twice as long after each failure (up to 5 s):
 * a write the log depends on (the key state after a checkpoint) may not be skipped, only
 * delayed. Rejects with RetryAbandoned once `abandoned()` is true.
 */
export async function retryUntilDone<T>(attempt: () => Promise<T>, o: { onFailure: (e: Error) => void; abandoned: () => boolean }): Promise<T> {
  let waitMs = 0;
  for (;;) {
    if (o.abandoned()) throw new RetryAbandoned('abandoned: the daemon is stopping');
    try {
      return await attempt();
    } catch (e) {
      o.onFailure(e as Error);
    }
    waitMs = Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, waitMs * 2));
    await new Promise((r) => setTimeout(r, waitMs));
  }
}
