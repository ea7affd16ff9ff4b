/** What each listener counts; exported by status and the metrics endpoint. */
export interface ListenerCounters {
  received: number;
  bytes: number;
  truncated: number;
  incomplete: number;
  invalidUtf8: number;
  emptyFrames: number;
  rejectedSources: number;
  rejectedConnections: number;
  idleTimeouts: number;
  connectionErrors: number;
  tlsFailures: number;
  /** Datagrams the kernel dropped before we could read them (from /proc/net/udp), UDP only. */
  kernelDrops: number;
  /** Datagrams we dropped ourselves because the write queue was over its hard limit. */
  queueDrops: number;
}

export function newCounters(): ListenerCounters {
  return {
    received: 0, bytes: 0, truncated: 0, incomplete: 0, invalidUtf8: 0, emptyFrames: 0,
    rejectedSources: 0, rejectedConnections: 0, idleTimeouts: 0, connectionErrors: 0,
    tlsFailures: 0, kernelDrops: 0, queueDrops: 0,
  };
}
