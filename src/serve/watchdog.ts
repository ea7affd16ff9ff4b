import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/** The main thread's heartbeat, and the watchdog's sampling of it. */
const SAMPLE_MS = 1000;
/**
 * Thirty samples asleep with no beat and no CPU: far beyond any sleep the main thread takes on
 * purpose (its longest is SQLite's busy timeout, 5 s; fsyncs wait in state D, not S), and short
 * enough that systemd has the receiver back within about 35 s (RestartSec=5).
 */
export const WATCHDOG_STALL_SAMPLES = 30;
/** The watchdog holds a few numbers; it needs no more heap than this. */
const WATCHDOG_HEAP_MB = 8;

/**
 * Starts the watchdog thread, which kills the process when its main thread hangs (see
 * stall-rule.ts). Started before the rest of the daemon is loaded (see cli/main.ts). Does
 * nothing where /proc is missing.
 */
export function startWatchdog(): void {
  if (!existsSync(`/proc/self/task/${process.pid}/stat`)) return;
  const beat = new SharedArrayBuffer(4);
  const beats = new Int32Array(beat);
  const worker = new Worker(new URL('./watchdog-thread.js', import.meta.url), {
    workerData: { beat, pid: process.pid, sampleMs: SAMPLE_MS, stallSamples: WATCHDOG_STALL_SAMPLES },
    resourceLimits: { maxOldGenerationSizeMb: WATCHDOG_HEAP_MB, maxYoungGenerationSizeMb: 1 },
    stdout: false,
    stderr: false,
  });
  // A watchdog that fails must not take the daemon down with it: it says so and the daemon runs on.
  worker.on('error', (e) => process.stderr.write(`${new Date().toISOString()} WARN immutalog watchdog stopped: ${e.message}\n`));
  worker.unref();
  setInterval(() => Atomics.add(beats, 0, 1), SAMPLE_MS).unref();
}
