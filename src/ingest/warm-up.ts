import { randomBytes } from 'node:crypto';
import { utf8Flag } from '../chain/entry-format.js';
import { nowUs } from '../chain/clock.js';
import type { ReceivedFrame } from '../receive/frame.js';
import { Sequencer } from './sequencer.js';
import { WriteQueue } from './write-queue.js';

/**
 * Synthetic frames pushed through the write path before the listeners bind. Until V8 has
 * optimised it, the main thread needs about three times its steady CPU per message: right after
 * a start the kernel's 4 MiB UDP buffer overflowed within the first second of a 50,000/s sender
 * (README, Benchmarks). Twenty batches of 1,024: V8 optimises a function after some thousands
 * of calls; each frame costs about 10 µs, so this adds about 0.2 s to a start.
 */
export const WARM_UP_FRAMES = 20_000;

/**
 * Shapes the write path meets: oslo.log through rsyslog (RFC 5424), Python's SysLogHandler
 * (bare PRI), BSD syslog (RFC 3164, as loggen and logger send), a traceback, a JSON line. The
 * parser branches on each; warmed on one shape alone, V8 would deoptimise on the first other.
 */
const SHAPES = [
  '<134>1 2026-12-03T12:00:00.123456+00:00 host tacker-server 4242 - - 2026-12-03 12:00:00.123 4242 INFO tacker.vnfm.plugin [req-6f1c2d3e-aaaa-bbbb-cccc-0123456789ab admin demo - - -] warm-up message %N',
  '<11>2026-12-03 12:00:00.123 4242 ERROR tacker.common.rpc [-] warm-up %N: Traceback (most recent call last):\n  File "/usr/lib/python3/dist-packages/tacker/x.py", line 1, in f\n    raise ValueError("x")\nValueError: x\x00',
  '<38>Dec  3 12:00:00 host prg00000[1234]: seq: %N, thread: 0000, runid: 1764763200, stamp: 2026-12-03T12:00:00 PADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADDPADD',
  '<14>1 2026-12-03T12:00:00Z host tacker-conductor 77 ID47 [exampleSDID@32473 iut="3" eventSource="Application"] {"message": "warm-up %N", "levelname": "DEBUG", "name": "tacker.conductor"}',
  '<190>Dec  3 12:00:00 host tacker-server[4242]: 2026-12-03 12:00:00.123 4242 WARNING oslo_messaging._drivers.amqpdriver [-] warm-up %N caf\u00e9',
];

/** What the warm-up did, for status.json. */
export interface WarmUpReport {
  frames: number;
  ms: number;
}

function frameOf(i: number): ReceivedFrame {
  const raw = Buffer.from(SHAPES[i % SHAPES.length]!.replace('%N', String(i).padStart(10, '0')));
  // As a listener builds a frame, so that its calls are warmed too.
  return { raw, flags: utf8Flag(raw), receivedAtUs: nowUs(), transport: i % 7 === 0 ? 'tcp' : 'udp', listener: 'udp://127.0.0.1:5514', peerAddress: '127.0.0.1', peerPort: 40000 + (i % 3) };
}

/**
 * Runs `frames` synthetic frames through a write queue and sequencer of its own, on a chain of
 * its own (random key and head, starting at 0): no sealed byte leaves this function, so the log's
 * chain, sequence numbers and store never see them. Synchronous: the listeners are not bound yet.
 */
export function warmUpWritePath(frames: number, maxBatch: number): WarmUpReport {
  const t0 = performance.now();
  // One batch buffer, written again for each batch: a fresh one each time added 20 MB to the peak RSS of a start.
  let scratch = new ArrayBuffer(1 << 20);
  const allocate = (size: number): Buffer => {
    if (size > scratch.byteLength) scratch = new ArrayBuffer(size);
    return Buffer.from(scratch, 0, size);
  };
  const sequencer = new Sequencer({ nextSeq: 0, head: randomBytes(32), block: 0, blockKey: randomBytes(32), blockFirstSeq: 0, blockFloorUs: 0, latestInBlockUs: 0 }, allocate);
  let sealed = 0;
  const queue = new WriteQueue({
    maxDelayMs: 1_000,
    maxBatch,
    highWaterBytes: Number.MAX_SAFE_INTEGER,
    hardLimitBytes: Number.MAX_SAFE_INTEGER,
    commit: (batch) => void (sealed += sequencer.seal(batch).count),
    inFlightBytes: () => 0,
  });
  for (let i = 0; i < frames; i++) {
    queue.accept(frameOf(i));
    if (queue.queuedFrames >= maxBatch) queue.flushNow();
  }
  // Also cancels the timer the queue set for its first frame.
  queue.flushNow();
  if (sealed !== frames) throw new Error(`warm-up: expected ${frames} frames sealed, got ${sealed}`);
  return { frames, ms: Math.round(performance.now() - t0) };
}
