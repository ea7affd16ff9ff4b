import { readFileSync, writeSync } from 'node:fs';
import { workerData } from 'node:worker_threads';
import { parseTaskStat, StallDetector, type Stall } from './stall-rule.js';

/** Runs in its own thread (see watchdog.ts): samples the main thread and kills a hung process. */
const { beat, pid, sampleMs, stallSamples } = workerData as { beat: SharedArrayBuffer; pid: number; sampleMs: number; stallSamples: number };
const beats = new Int32Array(beat);
const detector = new StallDetector(stallSamples);
const task = `/proc/self/task/${pid}`;

function report(s: Stall): string {
  return (
    `${new Date().toISOString()} ERROR immutalog watchdog: the main thread has been asleep for ${s.samples} samples of ${sampleMs} ms ` +
    `with no heartbeat and no CPU used (state ${s.state}, wchan ${s.wchan}, ${s.cpuTicks} ticks in all): it is hung, not busy. ` +
    `Killing the process so that the service manager starts it again (Restart=on-failure); nothing committed is lost.\n`
  );
}

setInterval(() => {
  let sample;
  try {
    const stat = parseTaskStat(readFileSync(`${task}/stat`, 'utf8'));
    sample = { beat: Atomics.load(beats, 0), ...stat, wchan: readFileSync(`${task}/wchan`, 'utf8').trim() || '0' };
  } catch {
    return;
  }
  const stall = detector.observe(sample);
  if (stall) {
    // Straight to fd 2: a worker's process.stderr goes through the main thread, which is hung.
    writeSync(2, report(stall));
    process.kill(pid, 'SIGKILL');
  }
}, sampleMs);
