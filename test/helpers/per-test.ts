// Daemons and sockets a test file starts, stopped and removed after each test whatever it did,
// and the reading of one sample from a Prometheus text page.
import { rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { afterEach } from 'vitest';
import { startDaemon, type RunningDaemon } from './daemon.js';

/** Registers the afterEach that cleans up; call once at a test file's top level. */
export function perTestDaemons(): { daemon(args: string[]): Promise<RunningDaemon>; track(sock: Socket): Socket } {
  const daemons = new Set<RunningDaemon>();
  const sockets = new Set<Socket>();
  afterEach(async () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
    for (const d of daemons) {
      if (d.child.exitCode === null && d.child.signalCode === null) await d.kill();
      rmSync(d.dataDir, { recursive: true, force: true });
    }
    daemons.clear();
  });
  return {
    async daemon(args) {
      const d = await startDaemon({ args });
      daemons.add(d);
      return d;
    },
    track(sock) {
      sockets.add(sock);
      return sock;
    },
  };
}

/** The value of a metric sample (matching every given label), or undefined. */
export function metricSample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-z_0-9]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (!Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) continue;
    return Number(m[3]);
  }
  return undefined;
}
