import { readFileSync } from 'node:fs';
import type { StreamListener } from '../receive/stream.js';
import { UdpListener } from '../receive/udp.js';

/**
 * Datagrams the kernel dropped for a socket because its receive buffer was full: the last
 * column of /proc/net/udp and /proc/net/udp6 ("drops"). It is the only loss a UDP receiver
 * can see; anything lost on the wire or in the sender stays invisible.
 */
export function parseProcNetUdpDrops(table: string, localPort: number): number {
  let drops = 0;
  const hexPort = localPort.toString(16).toUpperCase().padStart(4, '0');
  for (const line of table.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 13) continue;
    const local = cols[1]!;
    if (local.slice(local.lastIndexOf(':') + 1) !== hexPort) continue;
    const d = Number(cols[cols.length - 1]);
    if (Number.isSafeInteger(d)) drops += d;
  }
  return drops;
}

/** Kernel drops for a local UDP port, or undefined where /proc is not available. */
export function readUdpKernelDrops(localPort: number, ipv6: boolean): number | undefined {
  try {
    return parseProcNetUdpDrops(readFileSync(ipv6 ? '/proc/net/udp6' : '/proc/net/udp', 'utf8'), localPort);
  } catch {
    return undefined;
  }
}

/** Copies each UDP listener's kernel drop count (left as it was where /proc is missing) and its reader's drops into its counters. */
export function updateKernelDrops(listeners: readonly (UdpListener | StreamListener)[]): void {
  for (const l of listeners) {
    if (!(l instanceof UdpListener)) continue;
    l.refreshDrops();
    const drops = readUdpKernelDrops(l.port, l.name.startsWith('udp://['));
    if (drops !== undefined) l.counters.kernelDrops = drops;
  }
}
