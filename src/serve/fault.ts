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
