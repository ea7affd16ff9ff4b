/**
 * Receive times are the monotonic clock plus an offset to the wall clock, learnt to the
 * microsecond by watching Date.now() tick over to a new millisecond. Re-basing on Date.now()
 * itself (as before) floored every stamp after a re-base to a whole millisecond: up to 1 ms
 * earlier than the moment the bytes arrived, and earlier than a local sender's own stamp.
 */

/** A calibration whose bracket of the tick is wider than this is retried (the thread was preempted). */
const CALIBRATION_SLACK_NS = 20_000n;
/** At most this many tries; each spins for at most one millisecond. */
const CALIBRATION_TRIES = 5;
/** How often the offset is checked against Date.now(); a check costs two clock reads, no spin. */
const CHECK_NS = 1_000_000_000n;

/**
 * wall ns = monotonic ns + offset, rounded so that a stamp is never earlier than the true time:
 * the upper end of the bracket around a millisecond tick. CLOCK_MONOTONIC and CLOCK_REALTIME
 * run at the same (NTP-slewed) rate, so the offset changes only when the wall clock is stepped.
 */
function calibrate(): { offsetNs: bigint; slackNs: bigint } {
  let best: { offsetNs: bigint; slackNs: bigint } | undefined;
  for (let i = 0; i < CALIBRATION_TRIES; i++) {
    let h0 = process.hrtime.bigint();
    let d0 = Date.now();
    for (;;) {
      const h = process.hrtime.bigint();
      const d = Date.now();
      if (d === d0) {
        h0 = h;
        continue;
      }
      const after = process.hrtime.bigint();
      // The wall clock read d0 after h0, so at h0 it was before (d0 + 1) ms: an upper bound.
      // It read d before `after`: at `after` it was at least d ms, the lower bound.
      const offsetNs = BigInt(d0 + 1) * 1_000_000n - h0;
      const slackNs = offsetNs - (BigInt(d) * 1_000_000n - after);
      if (!best || slackNs < best.slackNs) best = { offsetNs, slackNs };
      break;
    }
    if (best!.slackNs <= CALIBRATION_SLACK_NS) break;
  }
  return best!;
}

let offsetNs = calibrate().offsetNs;
let checkedHr = process.hrtime.bigint();

/** Receive time in microseconds since the epoch, never before the moment of the call. */
export function nowUs(): number {
  let hr = process.hrtime.bigint();
  if (hr - checkedHr > CHECK_NS) {
    const wallNs = BigInt(Date.now()) * 1_000_000n;
    const after = process.hrtime.bigint();
    // Outside the millisecond Date.now() named (with a millisecond to spare above): the wall
    // clock was stepped; learn the offset again.
    if (after + offsetNs < wallNs || hr + offsetNs >= wallNs + 2_000_000n) offsetNs = calibrate().offsetNs;
    hr = process.hrtime.bigint();
    checkedHr = hr;
  }
  return Number((hr + offsetNs) / 1000n);
}

/**
 * What nowUs adds to the monotonic clock, in whole microseconds (rounded down), for a stamp taken
 * on CLOCK_MONOTONIC (the clock process.hrtime reads) in microseconds rounded up, as the native
 * UDP drain takes them: stamp + this is never before the moment, as nowUs() is.
 */
export function wallOffsetUs(): number {
  nowUs(); // re-learns the offset when the wall clock was stepped
  return Number(offsetNs / 1000n);
}
