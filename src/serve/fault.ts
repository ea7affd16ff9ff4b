import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Fault injection for the crash tests: when IMMUTALOG_FAULT names a point, the process kills
 * itself there with SIGKILL, as a power cut would stop it. Unset in production, it does nothing.
 */
export const FAULT_POINTS = [
  'checkpoint-after-pending-keys',
  'checkpoint-after-block-switch',
  'checkpoint-after-commit',
  'checkpoint-after-promote',
] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

const armed = process.env.IMMUTALOG_FAULT;

export function faultPoint(name: FaultPoint): void {
  if (armed === name) process.kill(process.pid, 'SIGKILL');
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
