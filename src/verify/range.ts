/**
 * The signed time bounds of a block: every entry of block j was received no earlier than
 * checkpoint j-1's time (the log's signed creation time for block 0) and no later than
 * checkpoint j's. The writer keeps this true (it dates each checkpoint at the cut and never dates
 * an entry before its block's opening checkpoint) and verify checks it for every entry, so these
 * bounds alone decide which blocks a time range needs: no unsigned column does.
 */
export interface TimeBounds {
  fromUs: number;
  /** Number.MAX_SAFE_INTEGER for a block no checkpoint has closed yet. */
  toUs: number;
}

export const OPEN_END_US = Number.MAX_SAFE_INTEGER;

/** A requested range: [sinceUs, untilUs), either end open when undefined. */
export interface TimeRange {
  sinceUs?: number;
  untilUs?: number;
}

/** Whether a block with these bounds can hold an entry received in the range. */
export function blockMayHold(b: TimeBounds, r: TimeRange): boolean {
  return (r.sinceUs === undefined || b.toUs >= r.sinceUs) && (r.untilUs === undefined || b.fromUs < r.untilUs);
}
