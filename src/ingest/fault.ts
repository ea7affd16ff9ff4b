import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Fault injection for the crash tests: when IMMUTALOG_FAULT names a point, the process kills
 * itself there with SIGKILL, as a power cut would stop it. Unset in production, it does nothing.
 */
export const FAULT_POINTS = [
  'checkpoint-after-pending-keys',
  'checkpoint-after-block-switch',
  // The same state, once what was sealed into the new block after the switch is committed too
  // (a crash a moment later): the next block holds entries while no checkpoint closes the last.
  'checkpoint-after-block-switch-settled',
  'checkpoint-after-commit',
  'checkpoint-after-promote',
] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

const armed = process.env.IMMUTALOG_FAULT;

export function faultPoint(name: FaultPoint): void {
  if (armed === name) process.kill(process.pid, 'SIGKILL');
}

/** Whether the crash tests armed this point (for one that must first wait for something). */
export function faultArmed(name: FaultPoint): boolean {
  return armed === name;
}

/**
 * For the watchdog's test: when IMMUTALOG_FAULT is 'hang-once', the first start in a data
 * directory blocks its main thread in a futex for good, as the starts that hung in CI did; the
 * next start there (the service manager's restart) runs normally.
 */
export function hangOnceFault(dataDir: string): void {
  if (armed !== 'hang-once') return;
  const marker = join(dataDir, 'fault-hang-once');
  if (existsSync(marker)) return;
  mkdirSync(dataDir, { recursive: true, mode: 0o750 });
  writeFileSync(marker, '');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

/** How often a held start looks for its release file. */
const HOLD_POLL_MS = 25;

/**
 * For the start-gate test: when IMMUTALOG_FAULT is 'hold-start', a start waits once its
 * listeners are bound, before it touches the log, until the file `fault-release-start` appears in
 * the data directory. Messages sent meanwhile must wait in the start gate and be stored after
 * recovery, none lost. Waits on timers, so the listeners keep receiving.
 */
export async function holdStartFault(dataDir: string): Promise<void> {
  if (armed !== 'hold-start') return;
  const release = join(dataDir, 'fault-release-start');
  while (!existsSync(release)) await new Promise((r) => setTimeout(r, HOLD_POLL_MS));
}
